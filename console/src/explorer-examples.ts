/** The operations the explorer opens with, one tab each; test/e2e/explorer.test.ts runs them all. */
export interface ExampleTab {
  query: string;
  variables?: string;
}

const vars = (value: Record<string, unknown>) => JSON.stringify(value, null, 2);

export const EXAMPLES: ExampleTab[] = [
  {
    query: `# Paste a token above (npm run -s token -- --role ADMIN)
# and press ▶ (Ctrl+Enter). Ctrl+Space completes as you
# type; the book icon opens the schema's documentation.
query Program {
  now
  program {
    name
    pointsName
    currency
    earnRate
    pendingDays
    expiry { mode months roundToQuarterEnd }
    tiers { code name rank qualifyingPointsRequired earnMultiplier }
  }
}`,
  },
  {
    query: `mutation Enrol($input: EnrollMemberInput!) {
  enrollMember(input: $input) {
    id
    externalId
    email
    status
    referralCode
  }
}`,
    variables: vars({ input: { externalId: 'customer-1001', email: 'ada@example.com', name: 'Ada' } }),
  },
  {
    query: `mutation Purchase($input: RecordPurchaseInput!) {
  recordPurchase(input: $input) {
    pointsEarned
    transaction { id type points status }
    member { balance { available pending lifetimeEarned } }
  }
}`,
    variables: vars({ input: { memberId: 'MEMBER-ID', orderId: 'order-1', amount: '129.90', currency: 'USD' } }),
  },
  {
    query: `query Member($externalId: String!) {
  member(externalId: $externalId) {
    id
    balance { available pending lifetimeEarned lifetimeRedeemed expired expiringSoon(days: 90) { points expiresAt } }
    tier { current { code name } qualifyingPoints nextTier { code } pointsToNextTier }
    transactions(first: 10) {
      totalCount
      edges { node { id type points status description occurredAt } }
      pageInfo { hasNextPage endCursor }
    }
  }
}`,
    variables: vars({ externalId: 'customer-1001' }),
  },
  {
    query: `# With a MEMBER token (npm run -s token -- --role MEMBER --member-id <id>)
query Me {
  me {
    id
    externalId
    balance { available pending }
    tier { current { name } }
  }
}`,
  },
];
