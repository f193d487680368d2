#!/usr/bin/env node
// ws_client.js — the Node.js `ws` library (Debian's node-ws) as an
// independent RFC 6455 client against a live switchboard-gateway; run by
// tests/integration/test_conformance.py.
//
//   NODE_PATH=/usr/share/nodejs node ws_client.js <ws://host:port/path> <scenario>
//
// Scenarios (one line per result on stdout; the last line is DONE on
// success, or FAIL <why> with exit status 1):
//   echo      sends {"message": m} for each shared test message (a short
//             Unicode text, 70,000 ASCII bytes, 70,000 bytes of multi-byte
//             UTF-8) and waits for each to come back: "ECHO <i> <utf8 bytes> OK";
//             then closes with 1000: "CLOSE <code the server answered with>".
//             `ws` offers permessage-deflate by default; the first line
//             "OPEN extensions=<negotiated>" shows what the server accepted.
//   ping      ping with a payload: "PONG <hex payload> OK", then close.
//   oversize  sends a 2,000-byte message: "CLOSE <code>" (the test expects 1009).
// A timer ends the process with status 3 ("FAIL timeout") after 15 s.
'use strict';

const WebSocket = require('ws');

const [url, scenario] = process.argv.slice(2);
if (!url || !scenario) {
  process.stderr.write('usage: ws_client.js <url> <echo|ping|oversize>\n');
  process.exit(2);
}

function out(line) {
  process.stdout.write(line + '\n');
}

function fail(why) {
  out('FAIL ' + why);
  process.exit(1);
}

setTimeout(() => {
  out('FAIL timeout');
  process.exit(3);
}, 15000).unref();

// The same list as beast_client.cpp and tests/integration/conformance_peer.py.
const MESSAGES = [
  'unicode: héllo wörld, 你好, 로비, 🎉𝄞, שלום, "quoted" back\\slash tab\t.',
  'a'.repeat(70000),
  '€'.repeat(23333) + 'a',
];

const ws = new WebSocket(url, { maxPayload: 16 * 1024 * 1024 });
let expectingClose = false;

ws.on('error', (err) => fail('error: ' + err.message));
ws.on('close', (code) => {
  if (!expectingClose) fail('unexpected close ' + code);
  out('CLOSE ' + code);
  out('DONE');
  process.exit(0);
});

// Resolves with the next message whose JSON has message === want (others skipped).
let waiter = null;
ws.on('message', (data, isBinary) => {
  if (isBinary) fail('a binary message from the server');
  let doc;
  try {
    doc = JSON.parse(data.toString('utf8'));
  } catch (e) {
    fail('not JSON: ' + data.toString('utf8').slice(0, 200));
  }
  if (waiter && doc && doc.message === waiter.want) {
    const w = waiter;
    waiter = null;
    w.resolve();
  }
});

function awaitEcho(want) {
  return new Promise((resolve) => {
    waiter = { want, resolve };
  });
}

ws.on('open', async () => {
  out('OPEN extensions=' + JSON.stringify(ws.extensions));
  if (scenario === 'echo') {
    for (let i = 0; i < MESSAGES.length; i++) {
      const echoed = awaitEcho(MESSAGES[i]);
      ws.send(JSON.stringify({ message: MESSAGES[i] }));
      await echoed;
      out('ECHO ' + i + ' ' + Buffer.byteLength(MESSAGES[i], 'utf8') + ' OK');
    }
    expectingClose = true;
    ws.close(1000, 'done');
  } else if (scenario === 'ping') {
    const payload = Buffer.from('node-ping-€', 'utf8');
    ws.on('pong', (data) => {
      if (!data.equals(payload)) fail('pong payload ' + data.toString('hex') + ' != ' + payload.toString('hex'));
      out('PONG ' + data.toString('hex') + ' OK');
      expectingClose = true;
      ws.close(1000);
    });
    ws.ping(payload);
  } else if (scenario === 'oversize') {
    expectingClose = true;
    ws.send(JSON.stringify({ message: 'x'.repeat(2000) }));
  } else {
    fail('unknown scenario ' + scenario);
  }
});
