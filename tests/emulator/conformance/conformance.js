#!/usr/bin/env node
// Connects a real CQL driver (DataStax cassandra-driver) to an emulated ScyllaDB node
// and runs what cairn runs: DESCRIBE SCHEMA, a CREATE TABLE, the table-id SELECT.
//
//   node conformance.js --address 127.0.1.1 --port 9042 --dc dc1 --keyspace ks
//        [--username U --password P]
//
// Prints one JSON line with what it saw; exits non-zero on the first failed check.
'use strict';

const assert = require('assert');
const cassandra = require('cassandra-driver');

function parseArgs(argv) {
  const out = {};
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--')) throw new Error('bad argument ' + argv[i]);
    out[argv[i].slice(2)] = argv[i + 1];
  }
  for (const k of ['address', 'port', 'dc', 'keyspace']) {
    if (!out[k]) throw new Error('missing --' + k);
  }
  return out;
}

function makeClient(args, credentials) {
  const options = {
    contactPoints: [args.address],
    localDataCenter: args.dc,
    protocolOptions: { port: Number(args.port) },
    socketOptions: { connectTimeout: 5000, readTimeout: 10000 },
    pooling: { heartBeatInterval: 0 },
  };
  if (credentials) {
    options.authProvider = new cassandra.auth.PlainTextAuthProvider(credentials.username,
                                                                     credentials.password);
  }
  return new cassandra.Client(options);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const ks = args.keyspace;
  const report = { keyspace: ks };

  if (args.username) {
    // Wrong credentials must be refused with an authentication error.
    const bad = makeClient(args, { username: args.username, password: args.password + 'x' });
    let refused = null;
    try {
      await bad.connect();
    } catch (err) {
      refused = err;
    } finally {
      await bad.shutdown();
    }
    assert(refused, 'connecting with a wrong password succeeded');
    const inner = refused.innerErrors ? Object.values(refused.innerErrors)[0] : refused;
    assert(inner instanceof cassandra.errors.AuthenticationError,
           'expected AuthenticationError, got ' + (inner && inner.name) + ': ' + inner);
    report.bad_password = inner.name;
  }

  const client = makeClient(args, args.username
    ? { username: args.username, password: args.password } : null);
  await client.connect();
  try {
    report.protocol_version = client.controlConnection.protocolVersion;
    report.hosts = client.hosts.values().map((h) => h.address);
    report.keyspaces_seen_by_metadata = Object.keys(client.metadata.keyspaces).sort();

    await client.execute(
      `CREATE KEYSPACE IF NOT EXISTS ${ks} WITH replication = ` +
      `{'class': 'NetworkTopologyStrategy', '${args.dc}': 1} AND durable_writes = true`);
    const created = await client.execute(
      `CREATE TABLE ${ks}.events (id uuid, at timestamp, body text, PRIMARY KEY (id, at)) ` +
      `WITH CLUSTERING ORDER BY (at DESC) AND comment = 'conformance'`);
    assert.strictEqual(created.rows, undefined, 'CREATE TABLE returned rows');

    // Creating it again must fail with "already exists" (0x2400).
    let again = null;
    try {
      await client.execute(`CREATE TABLE ${ks}.events (id uuid PRIMARY KEY)`);
    } catch (err) {
      again = err;
    }
    assert(again, 'creating an existing table succeeded');
    assert.strictEqual(again.code, 0x2400, 'expected error 0x2400, got ' + again.code);
    report.already_exists = again.message;

    // The table id, bound as parameters (not prepared) and inline.
    const q = 'SELECT id FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?';
    const byParams = await client.execute(q, [ks, 'events']);
    assert.strictEqual(byParams.rows.length, 1, 'table id: expected one row');
    const id = byParams.rows[0].id;
    assert(id instanceof cassandra.types.Uuid, 'id column is not a uuid');
    const inline = await client.execute(
      `SELECT id FROM system_schema.tables WHERE keyspace_name = '${ks}' AND table_name = 'events'`);
    assert.strictEqual(inline.rows[0].id.toString(), id.toString());
    report.table_id = id.toString();

    for (const stmt of ['DESCRIBE SCHEMA WITH INTERNALS', 'DESC SCHEMA']) {
      const rs = await client.execute(stmt);
      const names = rs.columns.map((c) => c.name);
      assert.deepStrictEqual(names, ['keyspace_name', 'type', 'name', 'create_statement']);
      for (const c of rs.columns) {
        assert.strictEqual(c.type.code, cassandra.types.dataTypes.varchar, c.name + ' not varchar');
      }
      const table = rs.rows.find((r) => r.keyspace_name === ks && r.type === 'table' &&
                                        r.name === 'events');
      assert(table, stmt + ': no row for the table');
      const hasId = table.create_statement.includes('ID = ' + id.toString());
      assert.strictEqual(hasId, stmt.includes('INTERNALS'), stmt + ': ID presence wrong: ' +
                         table.create_statement);
      assert(rs.rows.find((r) => r.type === 'keyspace' && r.name === ks), 'no keyspace row');
      report[stmt] = rs.rows.filter((r) => r.keyspace_name === ks)
        .map((r) => [r.type, r.name, r.create_statement]);
    }

    // Syntax errors come back as ResponseError 0x2000.
    let syntax = null;
    try {
      await client.execute('CREATE TABEL x (a int PRIMARY KEY)');
    } catch (err) {
      syntax = err;
    }
    assert(syntax && syntax.code === 0x2000, 'expected a syntax error (0x2000)');

    const local = await client.execute("SELECT * FROM system.local WHERE key='local'");
    report.local_host_id = local.rows[0].host_id.toString();
  } finally {
    await client.shutdown();
  }
  console.log(JSON.stringify(report));
}

main().catch((err) => {
  console.error('conformance failed:', err && err.stack ? err.stack : err);
  process.exit(1);
});
