// Sends batches of events with the npm fluent-logger client over one connection, in
// PackedForward mode with ack, each batch at its own time: a shipper whose chunks leave on
// their own schedule (retries, backoff).
// Usage: node forward_batches.js SPEC.json ; SPEC = {host, port, batches: [{at, events,
//   waitFor?}]}: `at` in ms after start; `waitFor` a file that must exist before the batch
//   is sent (the test creates it when the state it waits for is reached).
// Resends a batch until it is acknowledged; prints the number of resends and exits 0.
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
  ackResponseTimeout: 10000,
  timeout: 10.0,
  reconnectInterval: 200,
  flushInterval: 5,
  internalLogger: { info() {}, error() {} },
});
sender.on('error', () => {}); // a batch not acknowledged is resent below

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(file) {
  while (!fs.existsSync(file)) await sleep(50);
}

// Resolves true once every event of the batch was acknowledged, false on the first error.
function emitBatch(events) {
  return Promise.all(events.map((ev) => new Promise((resolve) => {
    sender.emit(ev.tag, ev.record, ev.time, (err) => resolve(!err));
  }))).then((oks) => oks.every(Boolean));
}

// At least once, as a shipper with ack does: a batch whose ack did not come is sent again.
async function deliver(events, first) {
  let resends = 0;
  let ok = await first;
  while (!ok) {
    resends += 1;
    await sleep(200);
    ok = await emitBatch(events);
  }
  return resends;
}

(async () => {
  const start = Date.now();
  const deliveries = [];
  for (const batch of spec.batches) {
    const wait = start + batch.at - Date.now();
    if (wait > 0) await sleep(wait);
    if (batch.waitFor) await until(batch.waitFor);
    deliveries.push(deliver(batch.events, emitBatch(batch.events)));
  }
  const resends = (await Promise.all(deliveries)).reduce((a, b) => a + b, 0);
  process.stdout.write(`${resends}\n`);
  sender.end(null, null, () => process.exit(0));
  setTimeout(() => process.exit(0), 500);
})().catch((err) => {
  console.error('emit failed:', err && err.message ? err.message : err);
  process.exit(1);
});
