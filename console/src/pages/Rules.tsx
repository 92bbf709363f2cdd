/** Earning rules: what each awards, whether it runs, how much of its budget is spent. */
import { gql } from '../api';
import { ErrorMessage, Loading, format, useAction, useQuery } from '../ui';

const RULES = `query ConsoleRules {
  earningRules {
    id version name trigger condition priority exclusive active budgetPoints budgetSpent startsAt endsAt
    effect { kind points rate itemCondition qualifying }
    limit { count period }
  }
}`;
const SET_ACTIVE = `mutation ConsoleRuleActive($id: ID!, $active: Boolean!) { setEarningRuleActive(id: $id, active: $active) { id active } }`;

export interface Rule {
  id: string; version: number; name: string; trigger: string; condition: string | null; priority: number; exclusive: boolean; active: boolean;
  budgetPoints: number | null; budgetSpent: number; startsAt: string | null; endsAt: string | null;
  effect: { kind: string; points: number | null; rate: string | null; itemCondition: string | null; qualifying: boolean };
  limit: { count: number; period: string } | null;
}

/** "50 points", "2 points per unit", "×2 points", in words a manager reads. */
export function describeEffect(effect: Rule['effect']): string {
  const on = effect.itemCondition ? ` on items where ${effect.itemCondition}` : '';
  switch (effect.kind) {
    case 'FIXED': return `${effect.points ?? 0} points`;
    case 'PER_UNIT': return `${effect.rate} points per unit${on}`;
    default: return `×${effect.rate} points${on}`;
  }
}

export function Rules() {
  const state = useQuery<{ earningRules: Rule[] }>(RULES);
  const action = useAction();
  const toggle = async (rule: Rule) => {
    if (await action.run(() => gql(SET_ACTIVE, { id: rule.id, active: !rule.active }))) state.reload();
  };
  return (
    <>
      <p className="toolbar"><a className="button" href="#/rules/new">New rule</a></p>
      <ErrorMessage error={action.error} />
      <Loading state={state}>
        {({ earningRules }) => (earningRules.length === 0 ? <p className="muted">No earning rules yet: purchases earn the base rate and the tier multiplier only.</p> : (
          <div className="table-wrap">
            <table aria-label="Earning rules">
              <thead><tr><th scope="col">Rule</th><th scope="col">Trigger</th><th scope="col">Awards</th><th scope="col">Condition</th><th scope="col" className="num">Priority</th><th scope="col">Budget</th><th scope="col">Active</th></tr></thead>
              <tbody>
                {earningRules.map((r) => (
                  <tr key={r.id}>
                    <td><a href={`#/rules/${r.id}`}>{r.name}</a> <span className="muted small">v{r.version}</span></td>
                    <td>{r.trigger}</td>
                    <td>{describeEffect(r.effect)}{r.limit && <div className="muted small">at most {r.limit.count} per {r.limit.period.toLowerCase()}</div>}</td>
                    <td><code>{r.condition || 'always'}</code></td>
                    <td className="num">{r.priority}{r.exclusive && <div className="muted small">exclusive</div>}</td>
                    <td>{r.budgetPoints === null ? 'none' : `${format.points(r.budgetSpent)} of ${format.points(r.budgetPoints)}`}</td>
                    <td>
                      <button type="button" aria-pressed={r.active} onClick={() => toggle(r)} aria-label={`${r.name}: ${r.active ? 'active, press to pause' : 'paused, press to activate'}`}>
                        {r.active ? 'Active' : 'Paused'}
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
      </Loading>
    </>
  );
}
