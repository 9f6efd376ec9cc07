/**
 * The nftables driver: a JSON ruleset (libnftables-json(5)) applied with
 * `nft -j`, which the kernel commits as one transaction, so a ruleset
 * is either fully in place or not at all.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exec } from './exec.ts';
import { inNetns } from './netns.ts';

export type NftFamily = 'ip' | 'ip6' | 'inet' | 'bridge';

/** One command of a libnftables-json batch, e.g. { add: { table: {...} } }. */
export type NftCommand = Record<string, unknown>;

/**
 * nft -f - opens /dev/stdin, which fails (ENXIO) on the socketpair Node uses
 * for a child's stdin; so a ruleset travels as one argv string, or, past the
 * kernel's 128 KiB per-argument limit (MAX_ARG_STRLEN), as a private file.
 */
const ARGV_LIMIT = 120 * 1024;

export async function applyNft(commands: readonly NftCommand[], netns?: string): Promise<void> {
  if (commands.length === 0) return;
  const doc = JSON.stringify({ nftables: commands });
  if (Buffer.byteLength(doc) < ARGV_LIMIT) {
    await exec(inNetns(netns, ['nft', '-j', doc]));
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'virtnet-nft-'));
  try {
    writeFileSync(join(dir, 'ruleset.json'), doc, { mode: 0o600 });
    await exec(inNetns(netns, ['nft', '-j', '-f', join(dir, 'ruleset.json')]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Commands that remove a table whether or not it exists: nft 1.0.6 has no
 * `destroy`, but `add` of an existing table is a no-op, so add-then-delete
 * in one transaction always succeeds.
 */
export function dropTable(family: NftFamily, name: string): NftCommand[] {
  return [{ add: { table: { family, name } } }, { delete: { table: { family, name } } }];
}
