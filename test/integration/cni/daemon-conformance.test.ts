/**
 * The verb and lifecycle suites again, every call through the shim to a
 * resident `virtnet cni-daemon` in the node namespace (issue 15): the daemon
 * must give exactly the plugin's results and errors. nodeFixture starts the
 * daemon and fails the suite if it served no call.
 */
import { DAEMON_MODE_ENV } from '../../support/cni.ts';

process.env[DAEMON_MODE_ENV] = '1';
await import('./verbs.test.ts');
await import('./lifecycle.test.ts');
