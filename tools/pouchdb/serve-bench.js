// The CouchDB-family anchor of the module API benchmark (crates/bench/src/bin/lm_api.rs):
// PouchDB with its default Node adapter (LevelDB on disk, as a deployed CouchDB-protocol store
// keeps its data) behind express-pouchdb on 127.0.0.1 and an ephemeral port, with one database
// `blocked_cis` holding one document {"_id": KI, "gtin": GTIN} per line "KI GTIN" of KIS_FILE
// (written by the bench, so both sides hold the same list).
//
//   node serve-bench.js load KIS_FILE DATA_DIR   fills DATA_DIR, prints {"docs": N, "seconds": S}
//   node serve-bench.js serve DATA_DIR           prints {"port": N, "docs": N} when ready and
//                                                serves until stdin closes (the bench ended)
//
// Loading and serving are separate processes so that the served process's RSS is that of a
// server opened on a filled store (as the module's is), not the garbage of the load.
// Documents go in through express-pouchdb's PouchDB (so the server lists the database) with
// db.bulkDocs in batches of BATCH: the load is not what is measured. 1000 is the fastest batch
// measured here (200 000 docs: 400 → 15 s, 1000 → 13 s, 5000 → 21 s, 100 000 → 358 s; LevelDB
// slows down sharply on huge write batches).
'use strict';

const fs = require('fs');
const readline = require('readline');
const path = require('path');
const express = require('express');
const PouchDB = require('pouchdb');

const BATCH = 1000;

function server(dir) {
  const Pouch = PouchDB.defaults({ prefix: path.resolve(dir) + path.sep });
  const app = express();
  // express-pouchdb wraps Pouch (all-dbs registry): databases must be opened after this call.
  app.use('/', require('express-pouchdb')(Pouch, { mode: 'minimumForPouchDB', inMemoryConfig: true }));
  return { Pouch, app };
}

async function load(file, dir) {
  const { Pouch } = server(dir);
  const started = process.hrtime.bigint();
  const db = new Pouch('blocked_cis');
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  let docs = [];
  const flush = async () => {
    const results = await db.bulkDocs(docs);
    for (const result of results) {
      if (result.error) {
        throw new Error(`document refused: ${JSON.stringify(result)}`);
      }
    }
    docs = [];
  };
  for await (const line of lines) {
    const [ki, gtin] = line.split(' ');
    if (!ki) continue;
    docs.push({ _id: ki, gtin });
    if (docs.length >= BATCH) {
      await flush();
    }
  }
  if (docs.length > 0) {
    await flush();
  }
  const info = await db.info();
  await db.close();
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  console.log(JSON.stringify({ docs: info.doc_count, seconds }));
  process.exit(0);
}

async function serve(dir) {
  const { Pouch, app } = server(dir);
  const info = await new Pouch('blocked_cis').info();
  const listener = app.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: listener.address().port, docs: info.doc_count }));
  });
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  if (mode === 'load' && args.length === 2) {
    await load(args[0], args[1]);
  } else if (mode === 'serve' && args.length === 1) {
    await serve(args[0]);
  } else {
    console.error('usage: node serve-bench.js load KIS_FILE DATA_DIR | serve DATA_DIR');
    process.exit(2);
  }
}

main().catch((err) => {
  console.error(`serve-bench.js: ${err.stack || err}`);
  process.exit(1);
});
