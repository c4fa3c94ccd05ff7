// Side-by-side benchmark: PouchDB's own replicator (default settings) pulls one database from a
// CouchDB-protocol source into PouchDB's LevelDB store, then prints
// {"doc_count": N, "seconds": S} as one JSON line.
// Usage: node replicate-bench.js <source-db-url> <username> <password> <target-dir>
'use strict';

const PouchDB = require('pouchdb');

async function main() {
  const [url, username, password, dir] = process.argv.slice(2);
  if (!url || username === undefined || password === undefined || !dir) {
    console.error('usage: node replicate-bench.js <source-db-url> <username> <password> <target-dir>');
    process.exit(2);
  }
  const source = new PouchDB(url, { auth: { username, password }, skip_setup: true });
  const target = new PouchDB(dir + '/target');
  const started = process.hrtime.bigint();
  const result = await PouchDB.replicate(source, target);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (!result.ok) {
    throw new Error('replication failed: ' + JSON.stringify(result.errors));
  }
  const info = await target.info();
  console.log(JSON.stringify({ doc_count: info.doc_count, seconds }));
}

main().catch((err) => {
  console.error('replicate-bench.js:', err && (err.stack || err.message || err));
  process.exit(1);
});
