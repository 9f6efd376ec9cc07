/**
 * Bounds on the shape of a parsed JSON value, checked before any code that
 * recurses into it or does work per element (validation, deep equality,
 * merging). The body cap bounds bytes, not work: 3 MiB of JSON is ~300k
 * values, and validation costs microseconds per value, so without these a
 * single request could hold the event loop for seconds. The walk itself is
 * iterative and stops at the first bound exceeded, so it costs at most
 * `maxValues` steps whatever the input.
 */

export interface JsonBounds {
  /** Containers (objects, arrays) nested deeper than this are refused. */
  maxDepth: number;
  /** No array may have more items than this. */
  maxListItems: number;
  /** Values in all: every object, array, field value and list item counts one. */
  maxValues: number;
}

export interface BoundsProblem {
  path: string;
  rule: string;
}

interface Frame {
  value: unknown;
  path: string;
  depth: number;
}

const isContainer = (v: unknown): v is object => typeof v === 'object' && v !== null;

function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  // Field names are foreign text: show odd ones quoted, so that the path stays one line and unambiguous.
  return /^[A-Za-z_$][\w$-]*$/u.test(key) ? (parent ? `${parent}.${key}` : key) : `${parent}[${JSON.stringify(key)}]`;
}

/** The first bound `value` exceeds, with the path where it does; undefined when it is within all of them. */
export function checkJsonBounds(value: unknown, bounds: JsonBounds, root = ''): BoundsProblem | undefined {
  const stack: Frame[] = [{ value, path: root, depth: 0 }];
  let values = 0;
  while (stack.length) {
    const { value: v, path, depth } = stack.pop()!;
    if (++values > bounds.maxValues)
      return {
        path: root || '(the object)',
        rule: `must hold at most ${bounds.maxValues} values in all (fields and list items); this one holds more`,
      };
    if (!isContainer(v)) continue;
    if (depth >= bounds.maxDepth)
      return {
        path: path || '(the object)',
        rule: `must not nest lists and objects deeper than ${bounds.maxDepth} levels`,
      };
    if (Array.isArray(v)) {
      if (v.length > bounds.maxListItems)
        return { path, rule: `must be a list of at most ${bounds.maxListItems} items, not ${v.length}` };
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], path: childPath(path, i), depth: depth + 1 });
    } else {
      for (const [k, child] of Object.entries(v))
        stack.push({ value: child, path: childPath(path, k), depth: depth + 1 });
    }
  }
  return undefined;
}
