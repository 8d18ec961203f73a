// Sends batches of events with the npm fluent-logger client over one connection, in
// PackedForward mode with ack, each batch at its own time: a shipper whose chunks leave on
// their own schedule (retries, backoff).
// Usage: node forward_batches.js SPEC.json ; SPEC = {host, port, batches: [{at, events,
//   waitFor?}]}: `at` in ms after start; `waitFor` a file that must exist before the batch
//   is sent (the test creates it when the state it waits for is reached).
// Exits 0 once every event was acknowledged, 1 on the first error.
'use strict';
const fs = require('fs');
const path = require('path');
const logger = require(path.join(__dirname, 'node_modules', 'fluent-logger'));

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const sender = logger.createFluentSender(null, {
  host: spec.host,
  port: spec.port,
  eventMode: 'PackedForward',
  requireAckResponse: true,
  ackResponseTimeout: 30000,
  timeout: 10.0,
  reconnectInterval: 200,
  flushInterval: 5,
  internalLogger: { info() {}, error(...a) { console.error(...a); } },
});
sender.on('error', (err) => {
  console.error('sender error:', err && err.message ? err.message : err);
  process.exit(1);
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(file) {
  while (!fs.existsSync(file)) await sleep(50);
}

(async () => {
  const start = Date.now();
  const acked = [];
  for (const batch of spec.batches) {
    const wait = start + batch.at - Date.now();
    if (wait > 0) await sleep(wait);
    if (batch.waitFor) await until(batch.waitFor);
    for (const ev of batch.events) {
      acked.push(new Promise((resolve, reject) => {
        sender.emit(ev.tag, ev.record, ev.time, (err) => (err ? reject(err) : resolve()));
      }));
    }
  }
  await Promise.all(acked);
  sender.end(null, null, () => process.exit(0));
  setTimeout(() => process.exit(0), 500);
})().catch((err) => {
  console.error('emit failed:', err && err.message ? err.message : err);
  process.exit(1);
});
