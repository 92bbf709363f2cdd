/** Partners: register (the secret is shown once), rotate the secret, deactivate, settle. */
import { useState } from 'react';
import { fetchText, gql } from '../api';
import { Card, Check, ErrorMessage, Field, Figure, Loading, SecretOnce, Select, download, format, toInstant, toLocalInput, useAction, useQuery } from '../ui';

const PARTNERS = `query ConsolePartners { partners { partnerId name active earnRate personalData createdAt previousSecretExpiresAt } }`;
const CREATE = `mutation ConsoleCreatePartner($input: PartnerInput!) { createPartner(input: $input) { clientId clientSecret } }`;
const ROTATE = `mutation ConsoleRotateSecret($partnerId: String!) { rotatePartnerSecret(partnerId: $partnerId) { clientId clientSecret } }`;
const SET_ACTIVE = `mutation ConsolePartnerActive($partnerId: String!, $active: Boolean!) { setPartnerActive(partnerId: $partnerId, active: $active) { partnerId active } }`;
const SETTLEMENT = `query ConsoleSettlement($partnerId: String!, $from: DateTime!, $to: DateTime!) {
  partnerSettlement(partnerId: $partnerId, from: $from, to: $to) {
    pointsIssued pointsRedeemed pointsReversed pointsClawedBack purchases redemptions issuedValue redeemedValue clawedBackValue currency
  }
}`;

interface Partner { partnerId: string; name: string; active: boolean; earnRate: string | null; personalData: boolean; createdAt: string; previousSecretExpiresAt: string | null }
interface Credentials { clientId: string; clientSecret: string }

export function Partners() {
  const state = useQuery<{ partners: Partner[] }>(PARTNERS);
  const [secret, setSecret] = useState<Credentials>();
  const action = useAction();
  const rotate = async (p: Partner) => {
    if (!window.confirm(`Issue a new secret for ${p.name}? The current one keeps working for 24 hours.`)) return;
    const result = await action.run(() => gql<{ rotatePartnerSecret: Credentials }>(ROTATE, { partnerId: p.partnerId }));
    if (result) { setSecret(result.rotatePartnerSecret); state.reload(); }
  };
  const toggle = async (p: Partner) => {
    if (await action.run(() => gql(SET_ACTIVE, { partnerId: p.partnerId, active: !p.active }))) state.reload();
  };
  return (
    <>
      {secret && <SecretOnce title={`Client secret for ${secret.clientId}`} secret={secret.clientSecret} onDismiss={() => setSecret(undefined)} />}
      <NewPartner onCreated={(c) => { setSecret(c); state.reload(); }} />
      <ErrorMessage error={action.error} />
      <Loading state={state}>
        {({ partners }) => (
          <>
            <div className="table-wrap">
              <table aria-label="Partners">
                <thead><tr><th scope="col">Partner</th><th scope="col">Client id</th><th scope="col">Earn rate</th><th scope="col">Personal data</th><th scope="col">Since</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
                <tbody>
                  {partners.map((p) => (
                    <tr key={p.partnerId}>
                      <td>{p.name}</td>
                      <td><code>{p.partnerId}</code></td>
                      <td>{p.earnRate ?? 'programme'}</td>
                      <td>{p.personalData ? 'sees it' : 'hidden'}</td>
                      <td>{format.day(p.createdAt)}</td>
                      <td>{p.active ? 'Active' : 'Inactive'}{p.previousSecretExpiresAt && <div className="muted small">old secret until {format.when(p.previousSecretExpiresAt)}</div>}</td>
                      <td className="actions">
                        <button type="button" onClick={() => rotate(p)} aria-label={`Rotate the secret of ${p.name}`}>Rotate secret</button>
                        <button type="button" className={p.active ? 'danger' : undefined} onClick={() => toggle(p)} aria-label={`${p.active ? 'Deactivate' : 'Reactivate'} ${p.name}`}>{p.active ? 'Deactivate' : 'Reactivate'}</button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {partners.length > 0 && <Settlement partners={partners} />}
          </>
        )}
      </Loading>
    </>
  );
}

function NewPartner({ onCreated }: { onCreated: (c: Credentials) => void }) {
  const [d, setD] = useState({ partnerId: '', name: '', earnRate: '', personalData: false });
  const set = <K extends keyof typeof d>(key: K) => (value: (typeof d)[K]) => setD((x) => ({ ...x, [key]: value }));
  const action = useAction();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const input = { partnerId: d.partnerId.trim(), name: d.name.trim(), earnRate: d.earnRate.trim() || null, personalData: d.personalData };
    const result = await action.run(() => gql<{ createPartner: Credentials }>(CREATE, { input }));
    if (result) { setD({ partnerId: '', name: '', earnRate: '', personalData: false }); onCreated(result.createPartner); }
  };
  return (
    <Card title="Register a partner">
      <form onSubmit={submit} noValidate>
        <div className="grid-3 tight">
          <Field label="Partner id" value={d.partnerId} onChange={set('partnerId')} required error={action.fieldError('partnerId')} hint="Also its OAuth client id." />
          <Field label="Name" value={d.name} onChange={set('name')} required error={action.fieldError('name')} />
          <Field label="Earn rate (empty: the programme's)" value={d.earnRate} onChange={set('earnRate')} error={action.fieldError('earnRate')} />
        </div>
        <Check label="May see members' personal data" checked={d.personalData} onChange={set('personalData')} />
        <ErrorMessage error={action.formError} />
        <button type="submit" disabled={action.busy}>Register</button>
      </form>
    </Card>
  );
}

interface SettlementData {
  pointsIssued: number; pointsRedeemed: number; pointsReversed: number; pointsClawedBack: number; purchases: number; redemptions: number;
  issuedValue: string; redeemedValue: string; clawedBackValue: string; currency: string;
}

function Settlement({ partners }: { partners: Partner[] }) {
  const [partnerId, setPartnerId] = useState(partners[0]?.partnerId ?? '');
  const now = new Date();
  const [from, setFrom] = useState(() => toLocalInput(new Date(now.getFullYear(), now.getMonth(), 1).toISOString()));
  const [to, setTo] = useState(() => toLocalInput(new Date(now.getFullYear(), now.getMonth() + 1, 1).toISOString()));
  const [result, setResult] = useState<SettlementData>();
  const action = useAction();
  const range = () => ({ partnerId, from: toInstant(from), to: toInstant(to) });
  const show = async (e: React.FormEvent) => {
    e.preventDefault();
    const r = await action.run(() => gql<{ partnerSettlement: SettlementData }>(SETTLEMENT, range()));
    if (r) setResult(r.partnerSettlement);
  };
  const csv = async () => {
    const { from: f, to: t } = range();
    const text = await action.run(() => fetchText(`/partners/${encodeURIComponent(partnerId)}/settlement.csv?from=${encodeURIComponent(f ?? '')}&to=${encodeURIComponent(t ?? '')}`));
    if (text !== undefined) download(`settlement-${partnerId}-${from.slice(0, 10)}-${to.slice(0, 10)}.csv`, text);
  };
  return (
    <Card title="Settlement">
      <form className="inline-fields" onSubmit={show}>
        <Select label="Partner" value={partnerId} onChange={setPartnerId} options={partners.map((p) => ({ value: p.partnerId, label: p.name }))} />
        <Field label="From" type="datetime-local" value={from} onChange={setFrom} error={action.fieldError('from')} />
        <Field label="To" type="datetime-local" value={to} onChange={setTo} error={action.fieldError('to')} />
        <button type="submit" disabled={action.busy}>Show</button>
        <button type="button" onClick={csv} disabled={action.busy}>Download CSV</button>
      </form>
      <ErrorMessage error={action.formError} />
      {result && (
        <div className="figures" role="status" aria-label="Settlement figures">
          <Figure label="Points issued" value={format.points(result.pointsIssued)} detail={`${result.issuedValue} ${result.currency} · ${result.purchases} purchases`} />
          <Figure label="Points redeemed" value={format.points(result.pointsRedeemed)} detail={`${result.redeemedValue} ${result.currency} · ${result.redemptions} redemptions`} />
          <Figure label="Clawed back" value={format.points(result.pointsClawedBack)} detail={`${result.clawedBackValue} ${result.currency}`} />
          <Figure label="Reversed" value={format.points(result.pointsReversed)} />
        </div>
      )}
    </Card>
  );
}
