import type { GraphQLResolveInfo, SelectionSetNode } from 'graphql';

/**
 * Whether the field being resolved selects `name` directly (or in an inline fragment). Used to
 * fetch related data in the same statement; named fragments are not followed, and a miss only
 * means the related data is read by its own resolver.
 */
export function selectsField(info: GraphQLResolveInfo, name: string): boolean {
  const search = (set: SelectionSetNode | undefined): boolean =>
    set?.selections.some((s) => (s.kind === 'Field' && s.name.value === name) || (s.kind === 'InlineFragment' && search(s.selectionSet))) ?? false;
  return info.fieldNodes.some((node) => search(node.selectionSet));
}
