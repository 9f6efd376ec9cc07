/**
 * `virtnet topology`: each NIC's path from its network into the guest,
 * network → pod interface → [nft NAT] → bridge → tap → VM NIC, the NICs
 * stacked inside a box for the pod (named by its netns on a node, by the
 * launcher pod and its node on a cluster) with the VM boxed
 * inside it. Text for terminals, SVG for files; both deterministic so they can
 * be diffed and tested as golden values.
 */
import type { NicWiring } from '../api/status.ts';
import type { VmiView } from './table.ts';

const NAT_LABEL = 'nft NAT';

function networkLabel(nic: NicWiring): string {
  return nic.network === 'pod' ? 'pod network' : nic.network;
}

/** The hops inside the pod, before the VM; masquerade's NAT sits between the pod interface and the bridge. */
function podHops(nic: NicWiring): string[] {
  return [nic.podInterface, ...(nic.binding === 'masquerade' ? [NAT_LABEL] : []), nic.bridge, nic.tap];
}

function vmNicLines(nic: NicWiring): string[] {
  const marks = [...(nic.hotplugged ? ['hot-plugged'] : []), ...(nic.removing ? ['removing'] : [])];
  const link = nic.linkState === 'down' ? ['link down'] : [];
  return [nic.name + (marks.length ? ` (${marks.join(', ')})` : ''), nic.mac, nic.model, ...nic.ips, ...link];
}

/** The pod box's title: its netns standalone; on a cluster, the launcher pod and its node. */
function podTitleOf(vmi: VmiView): string {
  const status = vmi.status;
  if (status?.virtnet?.netns !== undefined) return `pod, netns ${status.virtnet.netns}`;
  if (status?.launcherPod) return `pod ${status.launcherPod.name}${status.nodeName ? ` on ${status.nodeName}` : ''}`;
  return 'pod';
}

function noNetwork(vmi: VmiView): string {
  return `${vmi.metadata.namespace}/${vmi.metadata.name}: (no network yet)`;
}

const widest = (lengths: number[]) => Math.max(0, ...lengths);

/**
 * The text picture. Hops of one NIC share its first line (so each path reads
 * left to right on one line); pod IPs and the VM NIC's details hang below
 * their hop. Columns are not aligned across NICs: secondary NICs' names are
 * 14-15 characters, and aligning them would push two NICs past 100 columns.
 */
export function topologyText(vmi: VmiView): string {
  const wiring = vmi.status?.virtnet;
  if (!wiring?.nics.length) return `${noNetwork(vmi)}\n`;
  const nics = wiring.nics;
  const netWidth = widest(nics.map((nic) => networkLabel(nic).length));
  const chains = nics.map((nic) => `─▶ ${podHops(nic).join(' ─▶ ')} ─`);
  const chainWidth = widest([
    ...chains.map((c) => c.length),
    ...nics.flatMap((nic) => nic.podIps.map((ip) => ip.length + 4)),
  ]);
  const vmTitle = `─ VM ${vmi.metadata.name} `;
  const vmWidth = widest([vmTitle.length + 1, ...nics.flatMap((nic) => vmNicLines(nic).map((l) => l.length + 4))]);
  const podTitle = `─ ${podTitleOf(vmi)} `;
  // Blank columns between the VM's right edge and the pod's, wide enough for the pod's title.
  const gap = Math.max(1, podTitle.length + 1 - (chainWidth + vmWidth + 2));
  const podInner = chainWidth + vmWidth + 2 + gap;
  const outside = ' '.repeat(netWidth + 2);
  const line = (left: string, podEdge: string, chain: string, vmEdge: string, vm: string) =>
    `${left}${podEdge}${chain}${vmEdge}${vm}│${' '.repeat(gap)}│`;
  const out = [
    `${outside}┌${podTitle.padEnd(podInner, '─')}┐`,
    `${outside}│${' '.repeat(chainWidth)}┌${vmTitle.padEnd(vmWidth, '─')}┐${' '.repeat(gap)}│`,
  ];
  nics.forEach((nic, row) => {
    if (row > 0) out.push(line(outside, '│', ' '.repeat(chainWidth), '│', ' '.repeat(vmWidth)));
    const vmLines = vmNicLines(nic);
    // The arrow from the network crosses the pod's edge, the last hop's crosses the VM's.
    out.push(
      line(
        `${networkLabel(nic)} `.padEnd(netWidth + 2, '─'),
        '┼',
        chains[row]!.padEnd(chainWidth, '─'),
        '┼',
        `─▶ ${vmLines[0]}`.padEnd(vmWidth),
      ),
    );
    const height = Math.max(1 + nic.podIps.length, vmLines.length);
    for (let k = 1; k < height; k++) {
      out.push(
        line(
          outside,
          '│',
          `   ${nic.podIps[k - 1] ?? ''}`.padEnd(chainWidth),
          '│',
          `   ${vmLines[k] ?? ''}`.padEnd(vmWidth),
        ),
      );
    }
  });
  out.push(
    `${outside}│${' '.repeat(chainWidth)}└${'─'.repeat(vmWidth)}┘${' '.repeat(gap)}│`,
    `${outside}└${'─'.repeat(podInner)}┘`,
  );
  return out.join('\n') + '\n';
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text made safe for XML 1.0: markup characters escaped, characters XML forbids even escaped replaced. */
export function xmlEscape(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
    .replace(/[&<>"']/g, (c) => XML_ENTITIES[c]!);
}

// SVG geometry in user units. Monospace glyphs advance about 0.6 em, which sizes boxes without measuring fonts.
const FONT_SIZE = 12;
const CHAR_WIDTH = 7.2;
const LINE_HEIGHT = 16;
const PAD = 8;
const ARROW_GAP = 48;
const INSET = 16;
const MARGIN = 16;
const TITLE_HEIGHT = 24;
const ROW_GAP = 16;
const COLUMN_FILLS = {
  network: '#fff4e0',
  pod: '#e8f5e9',
  nat: '#fde2e2',
  bridge: '#eeeeee',
  tap: '#eeeeee',
  vm: '#e3ecfb',
};

type ColumnKind = keyof typeof COLUMN_FILLS;
interface Cell {
  kind: ColumnKind;
  lines: string[];
}

const boxWidth = (lines: string[]) => Math.ceil(widest(lines.map((l) => l.length)) * CHAR_WIDTH) + 2 * PAD;
const boxHeight = (lines: string[]) => lines.length * LINE_HEIGHT + 2 * PAD;
const text = (x: number, y: number, content: string, bold = false) =>
  `<text x="${x}" y="${y}"${bold ? ' font-weight="bold"' : ''}>${xmlEscape(content)}</text>`;
const rect = (x: number, y: number, w: number, h: number, fill: string) =>
  `<rect x="${x}" y="${y}" width="${w}" height="${h}" rx="4" fill="${fill}" stroke="#555555"/>`;

function svgDocument(width: number, height: number, title: string, body: string[]): string {
  return (
    [
      '<?xml version="1.0" encoding="UTF-8"?>',
      `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}"` +
        ` font-family="monospace" font-size="${FONT_SIZE}">`,
      `<title>${xmlEscape(title)}</title>`,
      '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8"' +
        ' orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#333333"/></marker></defs>',
      `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
      ...body,
      '</svg>',
    ].join('\n') + '\n'
  );
}

/** The SVG picture: the same hops as boxes, in columns aligned across NICs (a drawing has room to). */
export function topologySvg(vmi: VmiView): string {
  const title = `${vmi.metadata.namespace}/${vmi.metadata.name} network topology`;
  const wiring = vmi.status?.virtnet;
  if (!wiring?.nics.length) {
    const message = noNetwork(vmi);
    return svgDocument(boxWidth([message]) + 2 * MARGIN, LINE_HEIGHT + 2 * MARGIN, title, [
      text(MARGIN + PAD, MARGIN + LINE_HEIGHT - 4, message),
    ]);
  }
  const withNat = wiring.nics.some((nic) => nic.binding === 'masquerade');
  // One row per NIC; a bridge NIC has no cell in the NAT column, and its arrow spans it.
  const rows: Array<Array<Cell | undefined>> = wiring.nics.map((nic) => [
    { kind: 'network', lines: [networkLabel(nic)] },
    { kind: 'pod', lines: [nic.podInterface, ...nic.podIps] },
    ...(withNat ? [nic.binding === 'masquerade' ? { kind: 'nat' as const, lines: [NAT_LABEL] } : undefined] : []),
    { kind: 'bridge', lines: [nic.bridge] },
    { kind: 'tap', lines: [nic.tap] },
    { kind: 'vm', lines: vmNicLines(nic) },
  ]);
  const columnCount = rows[0]!.length;
  const columnWidths = Array.from({ length: columnCount }, (_, c) =>
    widest(rows.map((row) => (row[c] ? boxWidth(row[c].lines) : 0))),
  );
  const columnXs: number[] = [];
  let nextX = MARGIN;
  for (const w of columnWidths) {
    columnXs.push(nextX);
    nextX += w + ARROW_GAP;
  }
  const vmColumn = columnCount - 1;
  const podTitle = podTitleOf(vmi);
  const vmTitle = `VM ${vmi.metadata.name}`;
  const podLeft = columnXs[1]! - ARROW_GAP / 2;
  const vmLeft = columnXs[vmColumn]! - ARROW_GAP / 2;
  const vmRight = Math.max(columnXs[vmColumn]! + columnWidths[vmColumn]! + INSET, vmLeft + boxWidth([vmTitle]));
  const podRight = Math.max(vmRight + INSET, podLeft + boxWidth([podTitle]));
  const podTop = MARGIN;
  const vmTop = podTop + TITLE_HEIGHT;
  const body: string[] = [];
  let y = vmTop + TITLE_HEIGHT;
  for (const row of rows) {
    const arrowY = y + PAD + LINE_HEIGHT / 2;
    let previousRight: number | undefined;
    row.forEach((cell, c) => {
      if (!cell) return;
      const x = columnXs[c]!;
      if (previousRight !== undefined)
        body.push(
          `<line x1="${previousRight}" y1="${arrowY}" x2="${x}" y2="${arrowY}"` +
            ' stroke="#333333" marker-end="url(#arrow)"/>',
        );
      body.push(rect(x, y, columnWidths[c]!, boxHeight(cell.lines), COLUMN_FILLS[cell.kind]));
      cell.lines.forEach((l, i) => body.push(text(x + PAD, y + PAD + (i + 1) * LINE_HEIGHT - 4, l, i === 0)));
      previousRight = x + columnWidths[c]!;
    });
    y += widest(row.map((cell) => (cell ? boxHeight(cell.lines) : 0))) + ROW_GAP;
  }
  const vmBottom = y - ROW_GAP + INSET;
  const podBottom = vmBottom + INSET;
  // Containers first, so the NIC boxes and arrows are drawn over them.
  const containers = [
    rect(podLeft, podTop, podRight - podLeft, podBottom - podTop, '#fafafa'),
    text(podLeft + PAD, podTop + 16, podTitle, true),
    rect(vmLeft, vmTop, vmRight - vmLeft, vmBottom - vmTop, '#f0f5ff'),
    text(vmLeft + PAD, vmTop + 16, vmTitle, true),
  ];
  return svgDocument(podRight + MARGIN, podBottom + MARGIN, title, [...containers, ...body]);
}
