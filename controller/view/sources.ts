/**
 * Manifest files as `up`, `validate` and `kubectl virtnet validate` read
 * them: each path (or "-" for stdin) parsed as YAML or JSON documents; an
 * unreadable file is a problem like any other, so that every problem of a
 * batch comes back together.
 */
import { readFileSync } from 'node:fs';
import { parseManifests, type Manifest, type Problem } from '../api/manifests.ts';

export function readManifestFiles(files: string[]): { manifests: Manifest[]; problems: Problem[] } {
  const problems: Problem[] = [];
  const manifests = files.flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (err) {
      problems.push({
        source: file,
        path: '',
        rule: `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      });
      return [];
    }
    const parsed = parseManifests(text, file);
    problems.push(...parsed.problems);
    return parsed.manifests;
  });
  return { manifests, problems };
}
