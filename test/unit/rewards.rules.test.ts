import {
  checkReward, onOffer, readVoucherCode, redeemRefusal, remaining, seesVoucher, voucherChange, voucherCode, voucherStatus, type RedeemSituation, type RewardInput,
} from '../../src/rewards/rewards.rules';

const NOW = new Date('2026-03-01T12:00:00Z');
const at = (iso: string) => new Date(iso);

describe('checkReward', () => {
  const base: RewardInput = { code: ' coffee_1 ', name: ' Coffee ', pointsCost: 100, type: 'VOUCHER' };

  test('trims, upper-cases the code and fills the defaults', () => {
    expect(checkReward(base)).toEqual({
      code: 'COFFEE_1', name: 'Coffee', description: null, points_cost: 100, type: 'VOUCHER', stock: null, per_member_limit: null,
      min_tier_rank: null, valid_from: null, valid_until: null, active: true, partner_id: null,
    });
  });

  test.each<[string, Partial<RewardInput>]>([
    ['code', { code: '' }],
    ['code', { code: 'a'.repeat(65) }],
    ['code', { code: 'café' }],
    ['name', { name: '' }],
    ['name', { name: 'n'.repeat(201) }],
    ['description', { description: 'd'.repeat(2001) }],
    ['pointsCost', { pointsCost: 0 }],
    ['pointsCost', { pointsCost: -5 }],
    ['pointsCost', { pointsCost: 2.5 }],
    ['type', { type: 'CASH' as never }],
    ['stock', { stock: -1 }],
    ['stock', { stock: 1.5 }],
    ['perMemberLimit', { perMemberLimit: 0 }],
    ['minTierRank', { minTierRank: -1 }],
    ['validUntil', { validFrom: at('2026-02-01T00:00:00Z'), validUntil: at('2026-02-01T00:00:00Z') }],
    ['partnerId', { partnerId: '-starts-with-dash' }],
  ])('refuses a bad %s', (field, change) => {
    expect(() => checkReward({ ...base, ...change })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT', details: { field } }));
  });

  test('stock 0 is a reward with nothing left, not an unlimited one', () => {
    expect(checkReward({ ...base, stock: 0 }).stock).toBe(0);
  });
});

describe('remaining and onOffer', () => {
  test.each([
    [{ stock: null, issued: 7 }, null],
    [{ stock: 10, issued: 3 }, 7],
    [{ stock: 3, issued: 3 }, 0],
    [{ stock: 2, issued: 3 }, 0],
  ])('remaining(%o) = %p', (stock, expected) => {
    expect(remaining(stock)).toBe(expected);
  });

  test.each([
    [{ active: true, valid_from: null, valid_until: null }, true],
    [{ active: false, valid_from: null, valid_until: null }, false],
    [{ active: true, valid_from: NOW, valid_until: null }, true],
    [{ active: true, valid_from: at('2026-03-01T12:00:01Z'), valid_until: null }, false],
    [{ active: true, valid_from: null, valid_until: NOW }, false],
    [{ active: true, valid_from: null, valid_until: at('2026-03-01T12:00:01Z') }, true],
  ])('onOffer(%o) at noon = %p', (reward, expected) => {
    expect(onOffer(reward, NOW)).toBe(expected);
  });
});

describe('redeemRefusal', () => {
  type Reward = RedeemSituation['reward'];
  const open: Reward = { active: true, valid_from: null, valid_until: null, min_tier_rank: null, per_member_limit: null, stock: null, issued: 0 };

  test.each<[string, Partial<Reward>, { tierRank?: number | null; held?: number }, string | null]>([
    ['an open reward', {}, {}, null],
    ['an inactive one', { active: false }, {}, 'INVALID_STATE'],
    ['one past its end', { valid_until: NOW }, {}, 'INVALID_STATE'],
    ['a tier too low', { min_tier_rank: 2 }, { tierRank: 1 }, 'FORBIDDEN'],
    ['the tier reached', { min_tier_rank: 2 }, { tierRank: 2 }, null],
    ['no tier at all', { min_tier_rank: 0 }, { tierRank: null }, 'FORBIDDEN'],
    ['the limit reached', { per_member_limit: 2 }, { held: 2 }, 'INVALID_STATE'],
    ['under the limit', { per_member_limit: 2 }, { held: 1 }, null],
    ['no stock left', { stock: 5, issued: 5 }, {}, 'OUT_OF_STOCK'],
    ['the last unit', { stock: 5, issued: 4 }, {}, null],
    // The first refusal in order wins: not on offer before tier before limit before stock.
    ['inactive and out of stock', { active: false, stock: 0 }, {}, 'INVALID_STATE'],
    ['tier and stock', { min_tier_rank: 1, stock: 0 }, { tierRank: 0 }, 'FORBIDDEN'],
    ['limit and stock', { per_member_limit: 1, stock: 0 }, { held: 1 }, 'INVALID_STATE'],
  ])('%s', (_name, reward, member, expected) => {
    const refusal = redeemRefusal({ reward: { ...open, ...reward }, now: NOW, tierRank: member.tierRank ?? null, held: member.held ?? 0 });
    expect(refusal?.code ?? null).toBe(expected);
  });
});

describe('voucher codes', () => {
  test.each([
    [new Uint8Array(10), '0000-0000-0000-0000'],
    [new Uint8Array(10).fill(255), 'ZZZZ-ZZZZ-ZZZZ-ZZZZ'],
    [Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), '0000-0000-0000-0001'],
    [Uint8Array.from([0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0]), '1000-0000-0000-0000'],
  ])('80 bits read as 16 characters of 5 bits: %o', (bytes, code) => {
    expect(voucherCode(bytes)).toBe(code);
  });

  test('every character is of the alphabet: no I, L, O or U', () => {
    const code = voucherCode(Uint8Array.from([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x0f, 0xed]));
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/);
  });

  test.each([
    ['ab12-cd34-ef56-gh78', 'AB12-CD34-EF56-GH78'],
    ['AB12CD34EF56GH78', 'AB12-CD34-EF56-GH78'],
    [' ab12 cd34 ef56 gh78 ', 'AB12-CD34-EF56-GH78'],
    ['O0I1-L000-0000-0000', '0011-1000-0000-0000'],
    ['AB12-CD34-EF56-GH7', null],
    ['AB12-CD34-EF56-GH7U', null],
    ['', null],
  ])('readVoucherCode(%p) = %p', (typed, expected) => {
    expect(readVoucherCode(typed)).toBe(expected);
  });
});

describe('a voucher after issue', () => {
  const end = new Date('2026-03-01T12:00:00Z');
  test.each([
    ['ISSUED', null, 'ISSUED'],
    ['ISSUED', new Date('2026-03-01T12:00:01Z'), 'ISSUED'],
    ['ISSUED', end, 'EXPIRED'],
    ['USED', end, 'USED'],
    ['CANCELLED', end, 'CANCELLED'],
    ['EXPIRED', null, 'EXPIRED'],
  ] as const)('voucherStatus(%s, ends %p) at noon = %s', (status, validUntil, expected) => {
    expect(voucherStatus({ status, valid_until: validUntil }, NOW)).toBe(expected);
  });

  test.each([
    ['use', 'ISSUED', 'change'], ['use', 'USED', 'unchanged'], ['use', 'CANCELLED', 'INVALID_STATE'], ['use', 'EXPIRED', 'INVALID_STATE'],
    ['cancel', 'ISSUED', 'change'], ['cancel', 'CANCELLED', 'unchanged'], ['cancel', 'USED', 'INVALID_STATE'], ['cancel', 'EXPIRED', 'INVALID_STATE'],
  ] as const)('%s a voucher that is %s: %s', (change, status, expected) => {
    const outcome = voucherChange(change, status);
    expect(typeof outcome === 'string' ? outcome : outcome.code).toBe(expected);
  });

  const voucher = { member_id: 'm-1', partner_id: 'p-redeemer' };
  test.each([
    [{ role: 'ADMIN', sub: 'a' }, null, true],
    [{ role: 'MEMBER', sub: 'm', memberId: 'M-1' }, null, true],
    [{ role: 'MEMBER', sub: 'm', memberId: 'm-2' }, null, false],
    [{ role: 'PARTNER', sub: 'p', partnerId: 'p-redeemer' }, null, true],
    [{ role: 'PARTNER', sub: 'p', partnerId: 'p-fulfiller' }, 'p-fulfiller', true],
    [{ role: 'PARTNER', sub: 'p', partnerId: 'p-other' }, 'p-fulfiller', false],
  ] as const)('seesVoucher(%o, reward partner %p) = %p', (actor, rewardPartner, expected) => {
    expect(seesVoucher(actor, voucher, rewardPartner)).toBe(expected);
  });
});
