import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Kind, visit, type ArgumentNode, type DocumentNode, type ObjectFieldNode, type SelectionNode } from 'graphql';
import { textRefusal } from './text-inputs';

/**
 * Refuses, before anything runs, requests the service cannot serve: subscriptions (there are
 * none to subscribe to); a document with more than one mutation field, since mutations run one
 * after another and a later one failing turns the whole answer into `data: null`, hiding that
 * an earlier one committed (it would also let one request write many times under a rate limit
 * that counts requests); and text the database cannot store: PostgreSQL's text holds no NUL
 * character, and JSON no half of a UTF-16 surrogate pair, so either in any argument (or in a key
 * of a JSON argument) would otherwise fail deep in a statement; and variables nested absurdly
 * deep; and text any String or ID input may not hold, by its length and characters
 * (text-policy.ts). The answer is BAD_USER_INPUT (HTTP 400) naming the field, as for any other
 * malformed argument.
 */
export function requestChecks(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operation, schema }) {
          if (operation?.operation === 'subscription') {
            throw new GraphQLError('Subscriptions are not supported: send a query or a mutation', {
              extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
            });
          }
          if (operation?.operation === 'mutation' && !oneField(operation.selectionSet.selections)) {
            throw new GraphQLError('A request holds one mutation field: send each mutation as a request of its own', {
              extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } },
            });
          }
          // The document is walked only where its text can hold a NUL or a lone surrogate: as
          // such, or as an escape (\u0000, \u{0}, \ud800).
          const source = request.query;
          const inDocument = source === undefined || source.includes('\u0000') || /\\u|[\ud800-\udfff]/.test(source);
          const variables = request.variables ?? {};
          const found = unstorable(variables, '', 0) ?? (inDocument ? unstorableInDocument(document) : null)
            ?? (operation ? textRefusal(schema, document, operation, variables) : null);
          if (found !== null) {
            throw new GraphQLError(`${found.field || 'An argument'} ${found.problem}`, {
              extensions: { code: 'BAD_USER_INPUT', field: found.field, http: { status: 400 } },
            });
          }
        },
      };
    },
  };
}

/** Whether a mutation's root selects exactly one field (__typename aside); fragments there count as more. */
function oneField(selections: readonly SelectionNode[]): boolean {
  const fields = selections.filter((s) => !(s.kind === Kind.FIELD && s.name.value === '__typename'));
  return fields.length === 1 && fields[0]?.kind === Kind.FIELD;
}

/** What makes a text unstorable: a NUL (PostgreSQL's text holds none), or half a UTF-16 pair (no character at all). */
function textProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'must not contain the NUL character (U+0000)';
  if (LONE_SURROGATE.test(text)) return 'must be valid Unicode text (it holds half of a UTF-16 surrogate pair)';
  return null;
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
/** Variables nested deeper than this are refused: no input of the schema nests nearly so deep. */
const MAX_VARIABLE_DEPTH = 32;

/** The first unstorable text in `value` (a variable's value: its strings and its object keys), with its path; or null. */
function unstorable(value: unknown, path: string, depth: number): { field: string; problem: string } | null {
  if (typeof value === 'string') {
    const problem = textProblem(value);
    return problem ? { field: path, problem } : null;
  }
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_VARIABLE_DEPTH) return { field: path, problem: `nests deeper than ${MAX_VARIABLE_DEPTH} levels` };
  const entries: [string, unknown][] = Array.isArray(value) ? value.map((item, i) => [`[${i}]`, item]) : Object.entries(value);
  for (const [key, item] of entries) {
    const at = Array.isArray(value) ? `${path}${key}` : path ? `${path}.${key}` : key;
    const problem = Array.isArray(value) ? null : textProblem(key);
    if (problem) return { field: at, problem: `has a key that ${problem}` };
    const found = unstorable(item, at, depth + 1);
    if (found !== null) return found;
  }
  return null;
}

/** The first argument or input field written in the document with unstorable text in its string, or null. */
function unstorableInDocument(document: DocumentNode): { field: string; problem: string } | null {
  let found: { field: string; problem: string } | null = null;
  const check = (node: ArgumentNode | ObjectFieldNode) => {
    if (found !== null) return;
    const problem = textProblem(node.name.value) ?? (node.value.kind === Kind.STRING ? textProblem(node.value.value) : null);
    if (problem) found = { field: node.name.value, problem };
  };
  visit(document, { Argument: check, ObjectField: check });
  return found;
}
