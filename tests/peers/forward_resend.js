// Sends events one at a time with the npm fluent-logger client and ack, resending each event
// until it is acknowledged, as an at-least-once shipper does across server restarts.
// Usage: node forward_resend.js SPEC.json ; SPEC = {host, port, events: [{tag, time, record}]}
// Prints the number of resends; exits 0 once every event was acknowledged.
'use strict';
const fs = require('fs');
const path = require('path');
const logger = require(path.join(__dirname, 'node_modules', 'fluent-logger'));

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const sender = logger.createFluentSender(null, {
  host: spec.host,
  port: spec.port,
  eventMode: 'Message',
  requireAckResponse: true,
  ackResponseTimeout: spec.ackResponseTimeout || 2000,
  timeout: 3.0,
  reconnectInterval: 100,
  internalLogger: { info() {}, error() {} },
});
sender.on('error', () => {}); // every failure is retried below

function emitOnce(ev) {
  return new Promise((resolve) => {
    let time = ev.time;
    if (Array.isArray(time)) time = new logger.EventTime(time[0], time[1]);
    sender.emit(ev.tag, ev.record, time, (err) => resolve(!err));
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

(async () => {
  let resends = 0;
  for (const ev of spec.events) {
    while (!(await emitOnce(ev))) {
      resends += 1;
      await sleep(100);
    }
  }
  process.stdout.write(`${resends}\n`);
  sender.end(null, null, () => process.exit(0));
  setTimeout(() => process.exit(0), 500);
})();
