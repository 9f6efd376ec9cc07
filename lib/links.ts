/**
 * Cheap link facts for our own namespace, read from /proc/self/net/dev.
 * Unlike /sys/class/net, which shows the namespace that mounted sysfs,
 * /proc/self/net always shows the namespace of this process.
 */
import { readFileSync } from 'node:fs';

export function linkNames(): Set<string> {
  const text = readFileSync('/proc/self/net/dev', 'utf8');
  const names = new Set<string>();
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon > 0) names.add(line.slice(0, colon).trim());
  }
  return names;
}
