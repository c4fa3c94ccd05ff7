// A CouchDB-protocol source for the interop tests: PouchDB (in memory) behind express-pouchdb on
// 127.0.0.1 and an ephemeral port. Usage: node serve.js FIXTURES.json
// FIXTURES.json is {"<db name>": [<doc>, ...], ...}; docs with "_deleted": true are written
// first as live documents and then deleted, so they appear in _changes as deletions.
// Prints one line {"port": N} when ready; exits when stdin closes (the test ended).
'use strict';

const fs = require('fs');
const express = require('express');
const PouchDB = require('pouchdb').plugin(require('pouchdb-adapter-memory'));

const MemoryPouch = PouchDB.defaults({ adapter: 'memory' });

// Fixtures go in over HTTP, through express-pouchdb itself, so the server knows the databases
// exactly as it would after a client created them.
async function load(base, fixtures) {
  const call = async (method, path, body) => {
    const response = await fetch(base + path, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await response.json();
    if (!response.ok) {
      throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(json)}`);
    }
    return json;
  };
  for (const [name, docs] of Object.entries(fixtures)) {
    await call('PUT', `/${name}`);
    const live = docs.map((doc) => {
      const copy = Object.assign({}, doc);
      delete copy._deleted;
      return copy;
    });
    const revs = new Map();
    for (let i = 0; i < live.length; i += 5000) {
      const results = await call('POST', `/${name}/_bulk_docs`, { docs: live.slice(i, i + 5000) });
      for (const result of results) {
        if (result.error) {
          throw new Error(`${name}: document refused: ${JSON.stringify(result)}`);
        }
        revs.set(result.id, result.rev);
      }
    }
    const deletions = docs
      .filter((d) => d._deleted)
      .map((d) => ({ _id: d._id, _rev: revs.get(d._id), _deleted: true }));
    if (deletions.length > 0) {
      await call('POST', `/${name}/_bulk_docs`, { docs: deletions });
    }
  }
}

async function main() {
  const path = process.argv[2];
  if (!path) {
    console.error('usage: node serve.js FIXTURES.json');
    process.exit(2);
  }
  const fixtures = JSON.parse(fs.readFileSync(path, 'utf8'));
  const app = express();
  app.use('/', require('express-pouchdb')(MemoryPouch, { mode: 'minimumForPouchDB', inMemoryConfig: true }));
  const server = app.listen(0, '127.0.0.1', () => {
    const port = server.address().port;
    load(`http://127.0.0.1:${port}`, fixtures)
      .then(() => console.log(JSON.stringify({ port })))
      .catch((err) => {
        console.error(`serve.js: ${err.stack || err}`);
        process.exit(1);
      });
  });
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

main().catch((err) => {
  console.error(`serve.js: ${err.stack || err}`);
  process.exit(1);
});
