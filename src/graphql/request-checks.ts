import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError, Kind, visit, type ArgumentNode, type DocumentNode, type ObjectFieldNode, type SelectionNode } from 'graphql';

/**
 * Refuses, before anything runs, requests the service cannot serve: subscriptions (there are
 * none to subscribe to); a document with more than one mutation field, since mutations run one
 * after another and a later one failing turns the whole answer into `data: null`, hiding that
 * an earlier one committed (it would also let one request write many times under a rate limit
 * that counts requests); and text the database cannot store: PostgreSQL's text holds no NUL
 * character, and a NUL in any argument would otherwise fail deep in a statement. The answer is
 * BAD_USER_INPUT (HTTP 400) naming the field, as for any other malformed argument.
 */
export function requestChecks(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ request, document, operation }) {
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
          // The document is walked only where its text can hold a NUL: as such, or as an escape
          // (\u0000, \u{0}).
          const source = request.query;
          const inDocument = source === undefined || source.includes('\u0000') || source.includes('\\u');
          const field = nulInValue(request.variables ?? {}, '') ?? (inDocument ? nulInDocument(document) : null);
          if (field !== null) {
            throw new GraphQLError(`${field || 'An argument'} must not contain the NUL character (U+0000)`, {
              extensions: { code: 'BAD_USER_INPUT', field, http: { status: 400 } },
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

/** The path of the first string holding a NUL in `value` (a variable's value), or null. */
export function nulInValue(value: unknown, path: string): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = nulInValue(item, `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const found = nulInValue(item, path ? `${path}.${key}` : key);
      if (found !== null) return found;
    }
  }
  return null;
}

/** The name of the first argument or input field written in the document with a NUL in its string, or null. */
function nulInDocument(document: DocumentNode): string | null {
  let found: string | null = null;
  const check = (node: ArgumentNode | ObjectFieldNode) => {
    if (found === null && node.value.kind === Kind.STRING && node.value.value.includes('\u0000')) found = node.name.value;
  };
  visit(document, { Argument: check, ObjectField: check });
  return found;
}
