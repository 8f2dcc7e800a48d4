/**
 * What the chart exports, editor-free: the data as CSV (one row per run and step, log and eval
 * points at the same step merged) and the PNG the webview draws (a data URL, decoded here).
 */
import type { Columns } from './series';

export const CSV_HEADER = ['run', 'step', 'epoch', 'loss', 'eval_loss', 'lr', 'grad_norm'] as const;

function cell(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** CSV (RFC 4180, LF line ends) of runs' columns, runs in the order given. A gap (NaN, no value) is an empty cell. */
export function toCsv(runs: { id: string; columns: Columns }[]): string {
  const lines = [CSV_HEADER.join(',')];
  for (const { id, columns } of runs) {
    const { log, eval: ev } = columns;
    let i = 0;
    let j = 0;
    while (i < log.step.length || j < ev.step.length) {
      const ls = i < log.step.length ? log.step[i] : Infinity;
      const es = j < ev.step.length ? ev.step[j] : Infinity;
      if (ls <= es) {
        const both = ls === es;
        lines.push([id, ls, log.epoch[i] ?? (both ? ev.epoch[j] : null), log.loss[i], both ? ev.loss[j] : null, log.lr[i], log.gradNorm[i]].map(cell).join(','));
        i++;
        if (both) j++;
      } else {
        lines.push([id, es, ev.epoch[j], null, ev.loss[j], null, null].map(cell).join(','));
        j++;
      }
    }
  }
  return lines.join('\n') + '\n';
}

/** The bytes of a `data:image/png;base64,...` URL; throws on anything else. */
export function decodePngDataUrl(dataUrl: string): Buffer {
  const m = /^data:image\/png;base64,([A-Za-z0-9+/=]+)$/.exec(dataUrl);
  if (!m) throw new Error('the chart did not come back as a PNG image');
  const bytes = Buffer.from(m[1], 'base64');
  if (bytes.length < 8 || bytes.readUInt32BE(0) !== 0x89504e47) throw new Error('the chart image is not a valid PNG');
  return bytes;
}
