import {
  Kind, TypeInfo, getNullableType, isInputObjectType, isListType, isScalarType, visit, visitWithTypeInfo,
  type DocumentNode, type GraphQLInputType, type GraphQLSchema, type OperationDefinitionNode, type ValueNode,
} from 'graphql';
import { textPolicyFor, textProblem } from './text-policy';

/** A text input that breaks its policy: where it is (`input.items[1].sku`) and why. */
export interface TextRefusal {
  field: string;
  problem: string;
}

/** Where a variable is used: the type and the name of the input it fills, and the path to it. */
interface VariableUse {
  variable: string;
  type: GraphQLInputType;
  field: string;
  path: string;
}

/** An operation's text inputs, found once: a refusal its own literals earn, and its variables' uses. */
interface Plan {
  literal: TextRefusal | null;
  uses: VariableUse[];
}

// Apollo keeps each parsed document, so an operation is planned once, not once per request.
const plans = new WeakMap<OperationDefinitionNode, Plan>();

/**
 * The first String or ID input of the operation, written in the document or sent as a variable,
 * whose text breaks its policy (text-policy.ts); or null.
 */
export function textRefusal(
  schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown>,
): TextRefusal | null {
  let plan = plans.get(operation);
  if (plan === undefined) {
    plan = planOf(schema, document, operation);
    plans.set(operation, plan);
  }
  if (plan.literal !== null) return plan.literal;
  for (const use of plan.uses) {
    const found = checkValue(variables[use.variable], use.type, use.field, use.path);
    if (found !== null) return found;
  }
  return null;
}

function planOf(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): Plan {
  const plan: Plan = { literal: null, uses: [] };
  const typeInfo = new TypeInfo(schema);
  const defaults = new Map(operation.variableDefinitions?.map((d) => [d.variable.name.value, d.defaultValue]) ?? []);
  const visitor = visitWithTypeInfo(typeInfo, {
    Argument(node) {
      const argument = typeInfo.getArgument();
      if (argument) planValue(plan, defaults, node.value, argument.type, argument.name, argument.name);
      return false;
    },
  });
  // Fragments are planned with the operation: validation leaves none unused.
  for (const definition of [operation, ...document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION)]) {
    visit(definition, visitor);
  }
  return plan;
}

function planValue(
  plan: Plan, defaults: Map<string, ValueNode | undefined>, node: ValueNode, type: GraphQLInputType, field: string, path: string,
): void {
  if (node.kind === Kind.VARIABLE) {
    plan.uses.push({ variable: node.name.value, type, field, path });
    const fallback = defaults.get(node.name.value);
    if (fallback) planValue(plan, defaults, fallback, type, field, path);
    return;
  }
  const nullable = getNullableType(type);
  if (isListType(nullable)) {
    if (node.kind !== Kind.LIST) return planValue(plan, defaults, node, nullable.ofType, field, path);
    node.values.forEach((item, i) => planValue(plan, defaults, item, nullable.ofType, field, `${path}[${i}]`));
  } else if (isInputObjectType(nullable)) {
    if (node.kind !== Kind.OBJECT) return;
    const fields = nullable.getFields();
    for (const entry of node.fields) {
      const input = fields[entry.name.value];
      if (input) planValue(plan, defaults, entry.value, input.type, input.name, `${path}.${input.name}`);
    }
  } else if (node.kind === Kind.STRING && plan.literal === null) {
    plan.literal = checkValue(node.value, nullable, field, path);
  }
}

/** The first text in a variable's value (shaped by `type`) that breaks its policy, or null. */
function checkValue(value: unknown, type: GraphQLInputType, field: string, path: string): TextRefusal | null {
  if (value === null || value === undefined) return null;
  const nullable = getNullableType(type);
  if (isListType(nullable)) {
    if (!Array.isArray(value)) return checkValue(value, nullable.ofType, field, path);
    for (const [i, item] of value.entries()) {
      const found = checkValue(item, nullable.ofType, field, `${path}[${i}]`);
      if (found !== null) return found;
    }
    return null;
  }
  if (isInputObjectType(nullable)) {
    if (typeof value !== 'object' || Array.isArray(value)) return null;
    for (const input of Object.values(nullable.getFields())) {
      const found = checkValue((value as Record<string, unknown>)[input.name], input.type, input.name, `${path}.${input.name}`);
      if (found !== null) return found;
    }
    return null;
  }
  if (typeof value !== 'string' || !isScalarType(nullable) || (nullable.name !== 'String' && nullable.name !== 'ID')) return null;
  const problem = textProblem(textPolicyFor(field, nullable.name), value);
  return problem === null ? null : { field: path, problem };
}
