/**
 * Creates or edits an earning rule. The API checks the CEL conditions and every figure; its
 * message is shown at the field it names. A draft can be tried against past purchases first.
 */
import { useEffect, useState } from 'react';
import { gql } from '../api';
import { Card, Check, ErrorMessage, Field, Figure, Select, format, toInstant, toInt, toLocalInput, useAction, useQuery } from '../ui';
import type { Rule } from './Rules';

const RULE = `query ConsoleRule { earningRules {
  id version name trigger condition priority exclusive active budgetPoints budgetSpent startsAt endsAt
  effect { kind points rate itemCondition qualifying } limit { count period }
} }`;
const CREATE = `mutation ConsoleCreateRule($input: EarningRuleInput!) { createEarningRule(input: $input) { id version } }`;
const UPDATE = `mutation ConsoleUpdateRule($id: ID!, $input: EarningRuleInput!) { updateEarningRule(id: $id, input: $input) { id version } }`;
const SIMULATE = `query ConsoleSimulateRule($input: EarningRuleInput!, $from: DateTime!, $to: DateTime!) {
  simulateEarningRule(input: $input, from: $from, to: $to) { evaluated matched points value members }
}`;

const TRIGGERS = ['PURCHASE', 'signup', 'birthday', 'review', 'referral', 'survey', 'app_checkin', 'community_post'];

interface Draft {
  name: string; trigger: string; condition: string; kind: string; points: string; rate: string; itemCondition: string; qualifying: boolean;
  limitCount: string; limitPeriod: string; budgetPoints: string; priority: string; exclusive: boolean; startsAt: string; endsAt: string; active: boolean;
}

const EMPTY: Draft = {
  name: '', trigger: 'PURCHASE', condition: '', kind: 'FIXED', points: '', rate: '', itemCondition: '', qualifying: false,
  limitCount: '', limitPeriod: 'MONTH', budgetPoints: '', priority: '0', exclusive: false, startsAt: '', endsAt: '', active: true,
};

function fromRule(r: Rule): Draft {
  return {
    name: r.name, trigger: r.trigger, condition: r.condition ?? '', kind: r.effect.kind, points: r.effect.points?.toString() ?? '',
    rate: r.effect.rate ?? '', itemCondition: r.effect.itemCondition ?? '', qualifying: r.effect.qualifying,
    limitCount: r.limit?.count.toString() ?? '', limitPeriod: r.limit?.period ?? 'MONTH', budgetPoints: r.budgetPoints?.toString() ?? '',
    priority: String(r.priority), exclusive: r.exclusive, startsAt: toLocalInput(r.startsAt), endsAt: toLocalInput(r.endsAt), active: r.active,
  };
}

/** The draft as EarningRuleInput: empty fields are left out, so the API's defaults apply. */
function toInput(d: Draft) {
  const fixed = d.kind === 'FIXED';
  return {
    name: d.name.trim(),
    trigger: d.trigger.trim(),
    condition: d.condition.trim() || null,
    effect: {
      kind: d.kind,
      points: fixed ? toInt(d.points) : null,
      rate: fixed ? null : d.rate.trim() || null,
      itemCondition: fixed ? null : d.itemCondition.trim() || null,
      qualifying: d.qualifying,
    },
    limit: d.limitCount.trim() ? { count: toInt(d.limitCount), period: d.limitPeriod } : null,
    budgetPoints: toInt(d.budgetPoints),
    priority: toInt(d.priority) ?? 0,
    exclusive: d.exclusive,
    startsAt: toInstant(d.startsAt),
    endsAt: toInstant(d.endsAt),
    active: d.active,
  };
}

interface Simulation { evaluated: number; matched: number; points: number; value: string; members: number }

export function RuleEditor({ id }: { id: string | null }) {
  const existing = useQuery<{ earningRules: Rule[] }>(RULE, {}, { skip: id === null });
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const rule = existing.data?.earningRules.find((r) => r.id === id);
  useEffect(() => { if (rule) setDraft(fromRule(rule)); }, [rule?.id, rule?.version]);
  const set = <K extends keyof Draft>(key: K) => (value: Draft[K]) => setDraft((d) => ({ ...d, [key]: value }));
  const action = useAction();
  const [simulation, setSimulation] = useState<Simulation>();
  const [simFrom, setSimFrom] = useState(() => toLocalInput(new Date(Date.now() - 30 * 86_400_000).toISOString()));
  const [simTo, setSimTo] = useState(() => toLocalInput(new Date().toISOString()));
  const err = action.fieldError;

  if (id !== null && existing.data && !rule) return <p className="error" role="alert">No earning rule with id {id}.</p>;
  if (id !== null && !rule) return existing.error ? <ErrorMessage error={existing.error} /> : <p className="muted" role="status">Loading…</p>;

  const save = async (e: React.FormEvent) => {
    e.preventDefault();
    const input = toInput(draft);
    const saved = await action.run(() => (id === null ? gql(CREATE, { input }) : gql(UPDATE, { id, input })));
    if (saved) window.location.hash = '#/rules';
  };
  const simulate = async () => {
    setSimulation(undefined);
    const result = await action.run(() => gql<{ simulateEarningRule: Simulation }>(SIMULATE, { input: toInput(draft), from: toInstant(simFrom), to: toInstant(simTo) }));
    if (result) setSimulation(result.simulateEarningRule);
  };
  const fixed = draft.kind === 'FIXED';

  return (
    <form onSubmit={save} className="rule-form" noValidate>
      {rule && <p className="muted">Version {rule.version}; saving makes version {rule.version + 1}. Points already awarded keep the version that gave them.</p>}
      <div className="grid-2">
        <Card title="When">
          <Field label="Name" value={draft.name} onChange={set('name')} required error={err('name')} />
          <Field label="Trigger" value={draft.trigger} onChange={set('trigger')} required error={err('trigger')}
            hint={`PURCHASE, or an event type: ${TRIGGERS.slice(1).join(', ')} or your own.`} />
          <Field label="Condition (CEL)" value={draft.condition} onChange={set('condition')} multiline error={err('condition')}
            hint='Empty means always. E.g. purchase.amount >= 50.0 && member.tier == "GOLD"' />
          <Field label="Starts at" type="datetime-local" value={draft.startsAt} onChange={set('startsAt')} error={err('startsAt')} />
          <Field label="Ends at" type="datetime-local" value={draft.endsAt} onChange={set('endsAt')} error={err('endsAt')} />
        </Card>
        <Card title="What it awards">
          <Select label="Effect" value={draft.kind} onChange={set('kind')} error={err('effect.kind')} options={[
            { value: 'FIXED', label: 'Fixed points' }, { value: 'PER_UNIT', label: 'Points per currency unit' }, { value: 'MULTIPLIER', label: 'Multiplier on base points' },
          ]} />
          {fixed
            ? <Field label="Points" type="number" value={draft.points} onChange={set('points')} error={err('effect.points')} />
            : <>
              <Field label={draft.kind === 'MULTIPLIER' ? 'Factor (2 = double points)' : 'Points per unit'} value={draft.rate} onChange={set('rate')} error={err('effect.rate')} />
              <Field label="Only items where (CEL over item)" value={draft.itemCondition} onChange={set('itemCondition')} error={err('effect.itemCondition')} hint='E.g. item.category == "beans"' />
            </>}
          <Check label="Also counts toward tier status" checked={draft.qualifying} onChange={set('qualifying')} />
          <Field label="At most (awards per member)" type="number" value={draft.limitCount} onChange={set('limitCount')} error={err('limit.count')} />
          <Select label="Per" value={draft.limitPeriod} onChange={set('limitPeriod')} options={['DAY', 'WEEK', 'MONTH', 'YEAR', 'LIFETIME']} />
          <Field label="Budget (points, in all)" type="number" value={draft.budgetPoints} onChange={set('budgetPoints')} error={err('budgetPoints')} />
          <Field label="Priority (higher runs first)" type="number" value={draft.priority} onChange={set('priority')} error={err('priority')} />
          <Check label="Exclusive: no lower-priority rule applies with it" checked={draft.exclusive} onChange={set('exclusive')} />
          <Check label="Active" checked={draft.active} onChange={set('active')} />
        </Card>
      </div>
      <Card title="Try it on past purchases">
        <div className="inline-fields">
          <Field label="From" type="datetime-local" value={simFrom} onChange={setSimFrom} error={err('from')} />
          <Field label="To" type="datetime-local" value={simTo} onChange={setSimTo} error={err('to')} />
          <button type="button" onClick={simulate} disabled={action.busy}>Simulate</button>
        </div>
        {simulation && (
          <div className="figures" role="status" aria-label="Simulation result">
            <Figure label="Evaluated" value={format.points(simulation.evaluated)} />
            <Figure label="Matched" value={format.points(simulation.matched)} />
            <Figure label="Points it would award" value={format.points(Math.round(simulation.points))} detail={`worth ${simulation.value}`} />
            <Figure label="Members" value={format.points(simulation.members)} />
          </div>
        )}
      </Card>
      <ErrorMessage error={action.formError} />
      <div className="form-actions">
        <button type="submit" disabled={action.busy}>{id === null ? 'Create rule' : 'Save new version'}</button>
        <a href="#/rules">Cancel</a>
      </div>
    </form>
  );
}
