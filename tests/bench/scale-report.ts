import { SCALE_KINDS, type ScaleResults } from './scale.ts';

/** How RESULTS.md shows the scale section; a run of that section alone replaces it in place. */

const START = '<!-- scale:start -->';
const END = '<!-- scale:end -->';
/** Every ratio but the filtered page's must stay within this (issue 21). */
export const SCALE_TARGET = 3;

const ms = (value: number) => `${value.toFixed(2)} ms`;
const thousands = (n: number) => n.toLocaleString('en-US');

export function scaleTargetsMet(r: ScaleResults): boolean {
  const ratios = Object.entries(r.requests).filter(([kind]) => kind !== 'filtered');
  return ratios.every(([, x]) => x.ratio <= SCALE_TARGET) && r.counts.every((c) => c.api === c.actual);
}

export function renderScale(r: ScaleResults, date: string): string {
  const rows = Object.entries(r.requests).map(([kind, x]) => {
    const target = kind === 'filtered' ? 'reported' : `≤ ${SCALE_TARGET}×`;
    const met = kind === 'filtered' ? '' : x.ratio <= SCALE_TARGET ? 'met' : '**missed**';
    const label = SCALE_KINDS[kind as keyof typeof SCALE_KINDS];
    return `| ${label} | ${ms(x.small)} (p95 ${ms(x.smallP95)}) | ${ms(x.large)} (p95 ${ms(x.largeP95)}) | ${x.ratio.toFixed(2)}× | ${target} | ${met} |`;
  });
  const counts = r.counts.map(
    (c) =>
      `| ${c.what} | ${c.size === 'small' ? thousands(r.sizes.small) : thousands(r.sizes.large)} | ${thousands(c.api)} | ${thousands(c.actual)} | ${c.api === c.actual ? 'exact' : '**wrong**'} |`,
  );
  return [
    START,
    '## Lists at scale',
    '',
    `Written by \`npm run bench\` (or \`BENCH_ONLY=scale\`, tests/bench/scale.ts) on ${date}. Two databases bulk-loaded with SQL, ${thousands(r.sizes.small)} and ${thousands(r.sizes.large)} items (half of them one owner's, the rest spread over 1000 users; every fourth inactive), loaded before migration 0004 in ${r.loadSeconds.small.load.toFixed(0)} s and ${r.loadSeconds.large.load.toFixed(0)} s; the migration then built its counters and indexes on them in ${r.loadSeconds.small.migrate.toFixed(0)} s and ${r.loadSeconds.large.migrate.toFixed(0)} s. Each request goes through the items function as shipped (one process per database, pages of 20), the two sizes in alternation, ${r.samples} times each after 3 warm-up rounds; the figures are medians, the ratio is large ÷ small. The filtered page searches \`q=${r.filter.q}\`, which matches ${thousands(r.filter.small)} and ${thousands(r.filter.large)} of the owner's items: its count is counted and its matches sorted for the page (a bitmap scan of the trigram index), so it costs what its result costs (${(r.filter.large / Math.max(1, r.filter.small)).toFixed(0)}× the matches here): it is reported, not held to the target.`,
    '',
    '| request | small | large | ratio | target | |',
    '|---|---|---|---|---|---|',
    ...rows,
    '',
    'Counts the API answered (`limit=0`) against `count(*)` of the same rows, at both sizes, then again after 1000 items were inserted for the owner and 100 other items deleted by SQL directly:',
    '',
    '| count | items | API | count(*) | |',
    '|---|---|---|---|---|',
    ...counts,
    END,
  ].join('\n');
}

/** RESULTS.md with its scale section replaced by `section` (or added at the end). */
export function withScaleSection(markdown: string, section: string): string {
  const start = markdown.indexOf(START);
  const end = markdown.indexOf(END);
  if (start >= 0 && end > start)
    return `${markdown.slice(0, start)}${section}${markdown.slice(end + END.length)}`;
  return `${markdown.trimEnd()}\n\n${section}\n`;
}
