import { GraphQLError, GraphQLScalarType, Kind, valueFromASTUntyped } from 'graphql';

const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-](\d{2}):(\d{2}))$/;
/** The years an instant may fall in: a loyalty programme has nothing to record outside them. */
const FIRST_YEAR = 1900;
const LAST_YEAR = 2999;
const DECIMAL = /^-?\d{1,12}(\.\d{1,6})?$/;

function invalid(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

/**
 * A strict ISO-8601 instant: every field in its range (no 30 February, no 24:00, offsets up to
 * ±14:00), the year within FIRST_YEAR–LAST_YEAR. Lenient parsing would read 2026-02-30 as
 * 2 March.
 */
function parseDateTime(value: unknown): Date {
  const match = typeof value === 'string' ? ISO_INSTANT.exec(value) : null;
  if (!match) throw invalid('DateTime must be an ISO-8601 instant with an offset, e.g. 2026-03-01T09:30:00Z');
  const field = (i: number) => Number(match[i] ?? 0);
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [1, 2, 3, 4, 5, 6, 9, 10].map(field) as
    [number, number, number, number, number, number, number, number];
  const shown = String(value).slice(0, 40);
  if (year < FIRST_YEAR || year > LAST_YEAR) throw invalid(`DateTime must fall in the years ${FIRST_YEAR}–${LAST_YEAR}`);
  const daysInMonth = month >= 1 && month <= 12 ? new Date(Date.UTC(year, month, 0)).getUTCDate() : 0;
  if (day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || offsetHours > 14 || offsetMinutes > 59) {
    throw invalid(`"${shown}" is not a valid DateTime`);
  }
  return new Date(value as string);
}

function parseDecimal(value: unknown): string {
  if (typeof value !== 'string' || !DECIMAL.test(value)) {
    throw invalid('Decimal must be a string such as "129.90" (up to 12 digits and 6 decimals)');
  }
  return value;
}

export const DateTime = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO-8601 instant with a UTC offset.',
  serialize(value) {
    const date = value instanceof Date ? value : new Date(value as string);
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date');
    return date.toISOString();
  },
  parseValue: parseDateTime,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw invalid('DateTime must be a string');
    return parseDateTime(ast.value);
  },
});

export const Decimal = new GraphQLScalarType<string, string>({
  name: 'Decimal',
  description: 'A money amount as a decimal string.',
  serialize(value) {
    return String(value);
  },
  parseValue: parseDecimal,
  parseLiteral(ast) {
    if (ast.kind !== Kind.STRING) throw invalid('Decimal must be a string such as "129.90", never a number');
    return parseDecimal(ast.value);
  },
});

/** Any JSON value: an inline literal is read as the JSON it spells. */
export const JSONScalar = new GraphQLScalarType<unknown, unknown>({
  name: 'JSON',
  description: 'Any JSON value.',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});
