#!/usr/bin/env node
// A recording fake CNI delegate (libcni's "noop" pattern): it appends what it
// was called with (env and stdin) to the file named by its config's
// "record" key, and answers from "result" (or with the error in "fail").
const fs = require('node:fs');
const stdin = fs.readFileSync(0, 'utf8');
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('CNI_')));
if (env.CNI_COMMAND === 'VERSION') {
  process.stdout.write(JSON.stringify({ cniVersion: '1.1.0', supportedVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] }));
  process.exit(0);
}
const conf = JSON.parse(stdin);
fs.appendFileSync(conf.record, JSON.stringify({ env, conf }) + '\n');
if (conf.fail && conf.fail.verbs.includes(env.CNI_COMMAND)) {
  process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, code: conf.fail.code, msg: conf.fail.msg }));
  process.exit(1);
}
if (env.CNI_COMMAND === 'ADD') {
  const result = conf.result || conf.prevResult || { interfaces: [], ips: [] };
  process.stdout.write(JSON.stringify({ ...result, cniVersion: conf.cniVersion }));
}
