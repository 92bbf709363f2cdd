import { buildSchema, execute, parse, type GraphQLResolveInfo } from 'graphql';
import { selectsField } from '../../src/graphql/selection';

const schema = buildSchema(`
  type Balance { available: Int }
  type Member { id: ID balance: Balance }
  type Query { member: Member }
`);

/** Runs `query` and reports what selectsField said inside the `member` resolver. */
function seen(query: string): boolean {
  let result: boolean | undefined;
  execute({
    schema,
    document: parse(query),
    rootValue: { member: (_a: unknown, _c: unknown, info: GraphQLResolveInfo) => { result = selectsField(info, 'balance'); return {}; } },
  });
  return result as boolean;
}

test.each([
  ['{ member { id balance { available } } }', true],
  ['{ member { id } }', false],
  ['{ member { ... on Member { balance { available } } } }', true],
  // Named fragments are not followed: the balance is then read by its own resolver.
  ['{ member { ...F } } fragment F on Member { balance { available } }', false],
])('%s selects balance: %s', (query, expected) => {
  expect(seen(query)).toBe(expected);
});
