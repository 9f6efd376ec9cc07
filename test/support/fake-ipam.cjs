#!/usr/bin/env node
// A fake IPAM delegate for virtnet-bridge tests. It reads its orders from the
// config's "ipam" section (the plugin passes its whole config, SPEC.md
// "Delegated plugins"): it appends each call's verb to ipam.record, answers
// ADD with ipam.result, and fails the verbs in ipam.failVerbs with code 11.
const fs = require('node:fs');
if (process.env.CNI_COMMAND === 'VERSION') {
  process.stdout.write(JSON.stringify({ cniVersion: '1.1.0', supportedVersions: ['1.0.0', '1.1.0'] }));
  process.exit(0);
}
const conf = JSON.parse(fs.readFileSync(0, 'utf8'));
const ipam = conf.ipam || {};
const verb = process.env.CNI_COMMAND;
if (ipam.record) fs.appendFileSync(ipam.record, `${verb} ${process.env.CNI_CONTAINERID || ''}\n`);
if ((ipam.failVerbs || []).includes(verb)) {
  process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, code: 11, msg: `fake IPAM refuses ${verb}` }));
  process.exit(1);
}
if (verb === 'ADD') process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, ...ipam.result }));
