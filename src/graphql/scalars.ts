import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const DECIMAL = /^-?\d{1,12}(\.\d{1,6})?$/;

function invalid(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT' } });
}

function parseDateTime(value: unknown): Date {
  if (typeof value !== 'string' || !ISO_INSTANT.test(value)) {
    throw invalid('DateTime must be an ISO-8601 instant with an offset, e.g. 2026-03-01T09:30:00Z');
  }
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw invalid(`"${value}" is not a valid DateTime`);
  return date;
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
