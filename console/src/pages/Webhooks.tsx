/** Webhooks: endpoints (the signing secret shown once), and each one's delivery log with replay. */
import { useState } from 'react';
import { gql } from '../api';
import { Card, ErrorMessage, Field, Loading, SecretOnce, Select, format, useAction, useQuery } from '../ui';

const WEBHOOKS = `query ConsoleWebhooks { webhooks { id url events description active disabledReason createdAt } }`;
const CREATE = `mutation ConsoleCreateWebhook($input: WebhookInput!) { createWebhook(input: $input) { webhook { id } secret } }`;
const SET_ACTIVE = `mutation ConsoleWebhookActive($id: ID!, $active: Boolean!) { setWebhookActive(id: $id, active: $active) { id active } }`;
const DELIVERIES = `query ConsoleDeliveries($id: ID!, $status: DeliveryStatus, $after: String) {
  webhookDeliveries(webhookId: $id, status: $status, first: 20, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id eventId eventType memberId status attempts lastStatusCode lastError nextAttemptAt deliveredAt createdAt
      log { attempt at statusCode error durationMs } } }
  }
}`;
const REPLAY = `mutation ConsoleReplay($id: ID!) { replayWebhookDelivery(id: $id) { id status } }`;

const EVENTS = ['member.enrolled', 'points.earned', 'points.redeemed', 'points.expired', 'points.expiring', 'tier.changed',
  'reward.redeemed', 'referral.rewarded', 'complaint.filed', 'complaint.resolved'];

interface Webhook { id: string; url: string; events: string[]; description: string | null; active: boolean; disabledReason: string | null; createdAt: string }

export function Webhooks({ selected }: { selected?: string }) {
  const state = useQuery<{ webhooks: Webhook[] }>(WEBHOOKS);
  const [secret, setSecret] = useState<string>();
  const action = useAction();
  const toggle = async (w: Webhook) => {
    if (await action.run(() => gql(SET_ACTIVE, { id: w.id, active: !w.active }))) state.reload();
  };
  return (
    <>
      {secret && <SecretOnce title="Signing secret of the new webhook" secret={secret} onDismiss={() => setSecret(undefined)} />}
      <NewWebhook onCreated={(s) => { setSecret(s); state.reload(); }} />
      <ErrorMessage error={action.error} />
      <Loading state={state}>
        {({ webhooks }) => (
          <>
            <div className="table-wrap">
              <table aria-label="Webhooks">
                <thead><tr><th scope="col">Endpoint</th><th scope="col">Events</th><th scope="col">Since</th><th scope="col">Status</th><th scope="col">Actions</th></tr></thead>
                <tbody>
                  {webhooks.map((w) => (
                    <tr key={w.id} aria-current={w.id === selected ? 'true' : undefined}>
                      <td><a href={`#/webhooks/${w.id}`}>{w.url}</a>{w.description && <div className="muted small">{w.description}</div>}</td>
                      <td className="small">{w.events.join(', ')}</td>
                      <td>{format.day(w.createdAt)}</td>
                      <td>{w.active ? 'Active' : 'Inactive'}{w.disabledReason && <div className="muted small">{w.disabledReason}</div>}</td>
                      <td><button type="button" onClick={() => toggle(w)} aria-label={`${w.active ? 'Deactivate' : 'Activate'} ${w.url}`}>{w.active ? 'Deactivate' : 'Activate'}</button></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {selected && <Deliveries webhook={webhooks.find((w) => w.id === selected)} id={selected} />}
          </>
        )}
      </Loading>
    </>
  );
}

function NewWebhook({ onCreated }: { onCreated: (secret: string) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState('*');
  const [description, setDescription] = useState('');
  const action = useAction();
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    const input = { url: url.trim(), events: events.split(',').map((s) => s.trim()).filter(Boolean), description: description.trim() || null };
    const result = await action.run(() => gql<{ createWebhook: { secret: string } }>(CREATE, { input }));
    if (result) { setUrl(''); setDescription(''); onCreated(result.createWebhook.secret); }
  };
  return (
    <Card title="Add a webhook">
      <form onSubmit={submit} noValidate>
        <div className="grid-3 tight">
          <Field label="URL" type="url" value={url} onChange={setUrl} required error={action.fieldError('url')} />
          <Field label="Events (comma-separated, * for all)" value={events} onChange={setEvents} error={action.fieldError('events')} hint={EVENTS.join(', ')} />
          <Field label="Description" value={description} onChange={setDescription} error={action.fieldError('description')} />
        </div>
        <ErrorMessage error={action.formError} />
        <button type="submit" disabled={action.busy}>Add webhook</button>
      </form>
    </Card>
  );
}

interface Delivery {
  id: string; eventId: string; eventType: string; memberId: string; status: string; attempts: number; lastStatusCode: number | null; lastError: string | null;
  nextAttemptAt: string | null; deliveredAt: string | null; createdAt: string; log: { attempt: number; at: string; statusCode: number | null; error: string | null; durationMs: number }[];
}
interface DeliveriesData { webhookDeliveries: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: Delivery }[] } }

function Deliveries({ id, webhook }: { id: string; webhook: Webhook | undefined }) {
  const [status, setStatus] = useState('');
  const [pages, setPages] = useState<(string | null)[]>([null]);
  const state = useQuery<DeliveriesData>(DELIVERIES, { id, status: status || null, after: pages[pages.length - 1] ?? null });
  const action = useAction();
  const replay = async (d: Delivery) => {
    if (await action.run(() => gql(REPLAY, { id: d.id }))) state.reload();
  };
  return (
    <Card title={`Deliveries to ${webhook?.url ?? id}`}>
      <div className="inline-fields">
        <Select label="Status" value={status} onChange={(v) => { setStatus(v); setPages([null]); }} options={[{ value: '', label: 'Any' }, 'PENDING', 'DELIVERED', 'FAILED']} />
      </div>
      <ErrorMessage error={action.error} />
      <Loading state={state}>
        {({ webhookDeliveries: page }) => (page.edges.length === 0 ? <p className="muted">No deliveries{status && ` ${status.toLowerCase()}`}.</p> : (
          <>
            <div className="table-wrap">
              <table aria-label="Deliveries">
                <thead><tr><th scope="col">Event</th><th scope="col">Member</th><th scope="col">Status</th><th scope="col" className="num">Attempts</th><th scope="col">Last answer</th><th scope="col">When</th><th scope="col">Actions</th></tr></thead>
                <tbody>
                  {page.edges.map(({ node: d }) => (
                    <tr key={d.id}>
                      <td>{d.eventType}<div className="muted small"><code>{d.eventId}</code></div></td>
                      <td><a href={`#/members/${d.memberId}`}>member</a></td>
                      <td>{d.status}{d.nextAttemptAt && d.status === 'PENDING' && <div className="muted small">next {format.when(d.nextAttemptAt)}</div>}</td>
                      <td className="num">{d.attempts}</td>
                      <td className="small">
                        {d.lastStatusCode !== null ? `HTTP ${d.lastStatusCode}` : d.lastError ?? '—'}
                        {d.log.length > 0 && (
                          <details>
                            <summary>Attempts</summary>
                            <ol>{d.log.map((a) => <li key={a.attempt}>{format.when(a.at)}: {a.statusCode !== null ? `HTTP ${a.statusCode}` : a.error} in {a.durationMs} ms</li>)}</ol>
                          </details>
                        )}
                      </td>
                      <td>{format.when(d.deliveredAt ?? d.createdAt)}</td>
                      <td><button type="button" onClick={() => replay(d)} aria-label={`Send ${d.eventType} ${d.eventId} again`}>Replay</button></td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <div className="pager">
              <button type="button" disabled={pages.length === 1} onClick={() => setPages((p) => p.slice(0, -1))}>Newer</button>
              <button type="button" disabled={!page.pageInfo.hasNextPage} onClick={() => setPages((p) => [...p, page.pageInfo.endCursor])}>Older</button>
            </div>
          </>
        ))}
      </Loading>
    </Card>
  );
}
