/**
 * `virtnet version`: the version of each part of virtnet (one release, built
 * from one package.json: lib/version.ts) with where its binary is and whether
 * it was built, and the versions of the system tools virtnet drives, read by
 * running each with its version flag (an argv, a short timeout): "not found"
 * when the tool is not installed, so a user sees at once what is missing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../lib/exec.ts';
import { BUNDLED_PARTS, VERSION } from '../../lib/version.ts';
import type { Output } from '../view/command.ts';
import { alignColumns, render } from '../view/table.ts';
import type { ObjectFormat } from './program.ts';

const TOOL_TIMEOUT_MS = 2000;
const NOT_FOUND = 'not found';

/** Each system tool, how it tells its version, and the version's shape in what it prints. */
const TOOLS = [
  { name: 'qemu-system-x86_64', argv: ['qemu-system-x86_64', '--version'], pattern: /version (\S+)/u },
  { name: 'libvirtd', argv: ['libvirtd', '--version'], pattern: /(\d+\.\d+\.\d+)/u },
  { name: 'dnsmasq', argv: ['dnsmasq', '--version'], pattern: /version (\S+)/u },
  { name: 'nft', argv: ['nft', '--version'], pattern: /v(\d+\.\d+\.\d+)/u },
  { name: 'ip', argv: ['ip', '-V'], pattern: /iproute2-([\d.]*\d)|version (\S+)/u },
] as const;

export interface PartVersion {
  name: string;
  what: string;
  version: string;
  path?: string;
}

export interface VersionReport {
  virtnet: PartVersion[];
  tools: PartVersion[];
}

/** The first line a tool prints about itself, reduced to its version number when the shape is known. */
export function versionIn(output: string, pattern: RegExp): string {
  const m = pattern.exec(output);
  return m?.slice(1).find(Boolean) ?? output.split('\n')[0]!.trim();
}

async function toolVersion(tool: (typeof TOOLS)[number]): Promise<PartVersion> {
  try {
    const r = await exec(tool.argv, { timeoutMs: TOOL_TIMEOUT_MS, allowFailure: true });
    const text = `${r.stdout}\n${r.stderr}`.trim();
    return { name: tool.name, what: 'system tool', version: text ? versionIn(text, tool.pattern) : NOT_FOUND };
  } catch {
    // Not on $PATH (spawn fails), or it did not answer in time.
    return { name: tool.name, what: 'system tool', version: NOT_FOUND };
  }
}

/** virtnet's parts from `projectDir` (dist/ there), then the system tools. */
export async function versionReport(projectDir: string): Promise<VersionReport> {
  const parts = BUNDLED_PARTS.map((p) => {
    const path = join(projectDir, p.path);
    return { name: p.name, what: p.what, version: existsSync(path) ? VERSION : 'not built', path };
  });
  return {
    virtnet: [{ name: 'virtnet', what: 'CLI', version: VERSION }, ...parts],
    tools: await Promise.all(TOOLS.map(toolVersion)),
  };
}

/** The report as a table (NAME, VERSION, WHAT), or as JSON or YAML. */
export function formatVersions(report: VersionReport, format: ObjectFormat): string {
  if (format !== 'table') return render(report, format);
  const rows = [...report.virtnet, ...report.tools].map((p) => [p.name, p.version, p.what]);
  return alignColumns([['NAME', 'VERSION', 'WHAT'], ...rows]).trimEnd();
}

export async function version(projectDir: string, format: ObjectFormat, o: Output): Promise<number> {
  o.out(formatVersions(await versionReport(projectDir), format));
  return 0;
}
