/**
 * One process of the image cache tests (gc.test.ts): ensure() an image and
 * print the result as one JSON line. "hold": keep the pin and wait for
 * stdin to close; "die": SIGKILL itself while holding the pin; "once":
 * release and exit.
 * argv: <cache module> <root> <registries.conf> <image> <hold|die|once>
 */
import { pathToFileURL } from 'node:url';

const [modulePath, root, conf, image, mode] = process.argv.slice(2) as [string, string, string, string, string];
const { ImageCache } = (await import(
  pathToFileURL(modulePath).href
)) as typeof import('../../../controller/node/images/cache.ts');
const cache = new ImageCache({ root, skopeo: { registriesConf: conf } });
const got = await cache.ensure({ image });
process.stdout.write(`${JSON.stringify({ pid: process.pid, pulled: got.pulled, image: got.image })}\n`);
if (mode === 'die') process.kill(process.pid, 'SIGKILL');
if (mode === 'hold') {
  process.stdin.resume();
  await new Promise((r) => process.stdin.on('end', r));
}
got.release();
