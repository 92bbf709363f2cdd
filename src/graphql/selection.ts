import { getArgumentValues, getNamedType, isObjectType, type FieldNode, type GraphQLResolveInfo, type SelectionSetNode } from 'graphql';

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

/**
 * The arguments of the field `name` where the field being resolved selects it exactly once,
 * directly: what a resolver needs to read it ahead, in the same statement as its parent. With
 * no such selection (none, several under aliases, or only in fragments), undefined: the field's
 * own resolver reads it.
 */
export function selectedArguments(info: GraphQLResolveInfo, name: string): Record<string, unknown> | undefined {
  const type = getNamedType(info.returnType);
  const definition = isObjectType(type) ? type.getFields()[name] : undefined;
  if (!definition) return undefined;
  const nodes = info.fieldNodes.flatMap((node) =>
    node.selectionSet?.selections.filter((s): s is FieldNode => s.kind === 'Field' && s.name.value === name) ?? []);
  if (nodes.length !== 1) return undefined;
  try {
    return getArgumentValues(definition, nodes[0] as FieldNode, info.variableValues);
  } catch {
    return undefined; // the field's own resolution reports it
  }
}
