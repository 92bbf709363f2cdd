/**
 * The dashboard's monthly series (points earned, spent, expired and outstanding) as one request:
 * programInsights once per calendar month, each under its own alias. The API caps aliases, so
 * the series covers at most the last 12 months of the range.
 */
export interface Month { alias: string; label: string; from: string; to: string }
export interface MonthPoints { points: { issued: number; redeemed: number; expired: number; outstanding: number } }

const MAX_MONTHS = 12;

/** The calendar months (UTC) that [from, to) touches, the last 12 at most. */
export function monthsOf(from: string, to: string): Month[] {
  const start = new Date(from);
  const end = new Date(to);
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime()) || end <= start) return [];
  const months: Month[] = [];
  let cursor = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), 1));
  while (cursor < end) {
    const next = new Date(Date.UTC(cursor.getUTCFullYear(), cursor.getUTCMonth() + 1, 1));
    const label = cursor.toISOString().slice(0, 7);
    months.push({ alias: `m${label.replace('-', '_')}`, label, from: (cursor < start ? start : cursor).toISOString(), to: (next > end ? end : next).toISOString() });
    cursor = next;
  }
  return months.slice(-MAX_MONTHS);
}

export function monthlyQuery(months: Month[]): string {
  const fields = months.map((m) => `${m.alias}: programInsights(from: "${m.from}", to: "${m.to}", tier: $tier) { points { issued redeemed expired outstanding } }`);
  return `query ConsoleMonthlyPoints($tier: String) {\n  ${fields.join('\n  ')}\n}`;
}
