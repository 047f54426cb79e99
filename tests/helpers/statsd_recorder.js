/*
 * A backend for the statsd daemon (npm "statsd") that records what it flushes.
 *
 * Every flush appends one JSON line to config.recorder.file:
 *   {"ts": <seconds>, "counters": {...}, "gauges": {...}, "timers": {name: [values]},
 *    "timer_counters": {name: count}}
 * "timers" holds every value received in that interval (statsd's own array), and
 * "timer_counters" the count statsd derives from them (each value counts 1/sampleRate).
 * Counters and timers the daemon keeps at zero between flushes are left out, so that the
 * sum over all lines is what was received.
 */
"use strict";

const fs = require("fs");

function nonZero(obj) {
  const out = {};
  for (const key of Object.keys(obj)) {
    if (obj[key] !== 0) {
      out[key] = obj[key];
    }
  }
  return out;
}

exports.init = function (startupTime, config, events) {
  const file = config.recorder && config.recorder.file;
  if (!file) {
    return false;
  }
  events.on("flush", function (ts, metrics) {
    const timers = {};
    for (const key of Object.keys(metrics.timers)) {
      if (metrics.timers[key].length > 0) {
        timers[key] = metrics.timers[key].slice();
      }
    }
    const line = JSON.stringify({
      ts: ts,
      counters: nonZero(metrics.counters),
      gauges: metrics.gauges,
      timers: timers,
      timer_counters: nonZero(metrics.timer_counters),
    });
    fs.appendFileSync(file, line + "\n");
  });
  return true;
};
