// Sends events with the npm fluent-logger client, as the forward-protocol tests' peer.
// Usage: node forward_send.js SPEC.json ; SPEC = {host, port, eventMode, requireAckResponse,
//   security?, tls?, caFile?, events: [{tag, time: [sec, nsec] | sec, record}]}
// Exits 0 once every event's callback reported success, 1 on the first error.
'use strict';
const fs = require('fs');
const path = require('path');
const logger = require(path.join(__dirname, 'node_modules', 'fluent-logger'));

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const options = {
  host: spec.host,
  port: spec.port,
  eventMode: spec.eventMode || 'Message',
  requireAckResponse: !!spec.requireAckResponse,
  ackResponseTimeout: spec.ackResponseTimeout || 20000,
  timeout: 10.0,
  reconnectInterval: 200,
  flushInterval: spec.flushInterval || 20,
  internalLogger: { info() {}, error(...a) { console.error(...a); } },
};
if (spec.security) options.security = spec.security;
if (spec.tls) {
  options.tls = true;
  options.tlsOptions = { rejectUnauthorized: true, servername: 'localhost' };
  if (spec.caFile) options.tlsOptions.ca = [fs.readFileSync(spec.caFile)];
}
const sender = logger.createFluentSender(null, options);
let failed = false;
sender.on('error', (err) => {
  console.error('sender error:', err && err.message ? err.message : err);
  if (!spec.retryOnError) {
    failed = true;
    process.exit(1);
  }
});

const pending = spec.events.map((ev) => new Promise((resolve, reject) => {
  let time = ev.time;
  if (Array.isArray(time)) time = new logger.EventTime(time[0], time[1]);
  sender.emit(ev.tag, ev.record, time, (err) => (err ? reject(err) : resolve()));
}));
Promise.all(pending).then(() => {
  sender.end(null, null, () => process.exit(failed ? 1 : 0));
  setTimeout(() => process.exit(failed ? 1 : 0), 500);
}, (err) => {
  console.error('emit failed:', err && err.message ? err.message : err);
  process.exit(1);
});
