/**
 * Tagged Ethernet frames in tests: this kernel has no 8021q, so
 * test/support/vlan_frames.py makes and reads them on raw sockets.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Netns } from './netns.ts';

const FRAMES = resolve('test/support/vlan_frames.py');

/** Markers that `listener` sees on its eth0 while `sender` sends one burst per VLAN id from its eth0. */
export async function framesSeen(sender: Netns, listener: Netns, vids: number[]): Promise<string[]> {
  const recv = spawn('ip', ['netns', 'exec', listener.name, 'python3', FRAMES, 'recv', 'eth0', '1.5']);
  let out = '';
  recv.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise((r) => recv.on('close', r));
  await new Promise((r) => setTimeout(r, 300));
  for (const vid of vids) sender.run(['python3', FRAMES, 'send', 'eth0', String(vid), `VNT${vid}`, '5']);
  await done;
  return out.trim().split(/\s+/u).filter(Boolean);
}
