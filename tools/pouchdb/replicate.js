// Replicates one database from a CouchDB-protocol source into an in-memory PouchDB with
// PouchDB's own replicator, then prints {"doc_count": N, "ids": [...]} as one JSON line.
// Usage: node replicate.js <source-db-url> <username> <password>
// Used by crates/central's interop test (the emulator as source).
'use strict';

const PouchDB = require('pouchdb');
PouchDB.plugin(require('pouchdb-adapter-memory'));

async function main() {
  const [url, username, password] = process.argv.slice(2);
  if (!url || username === undefined || password === undefined) {
    console.error('usage: node replicate.js <source-db-url> <username> <password>');
    process.exit(2);
  }
  const source = new PouchDB(url, { auth: { username, password }, skip_setup: true });
  const target = new PouchDB('target', { adapter: 'memory' });
  const result = await PouchDB.replicate(source, target, { batch_size: 2 });
  if (!result.ok) {
    throw new Error('replication failed: ' + JSON.stringify(result.errors));
  }
  const all = await target.allDocs();
  console.log(JSON.stringify({
    doc_count: all.rows.length,
    ids: all.rows.map((r) => r.id),
    docs_written: result.docs_written,
  }));
}

main().catch((err) => {
  console.error('replicate.js:', err && (err.stack || err.message || err));
  process.exit(1);
});
