import type { ReferralStatus } from '../../src/db/schema';
import {
  onFirstPurchase, onRefund, selfReferral, type FirstPurchaseDecision, type ReferralSettings,
} from '../../src/referrals/referrals.rules';

const settings = (referrerPoints: number, refereePoints: number, maxPerReferrer: number | null): ReferralSettings => ({ referrerPoints, refereePoints, maxPerReferrer });
const ROOM = 10_000_000;

describe('onFirstPurchase: what the referee\'s first purchase does to a referral', () => {
  test.each<[string, ReferralStatus, ReferralSettings, number, boolean, FirstPurchaseDecision | null]>([
    ['pending, no cap: both credited', 'PENDING', settings(500, 200, null), 40, true, { status: 'REWARDED', referrerPoints: 500, refereePoints: 200 }],
    ['pending, under the cap', 'PENDING', settings(500, 200, 2), 1, true, { status: 'REWARDED', referrerPoints: 500, refereePoints: 200 }],
    ['pending, cap reached: nobody credited', 'PENDING', settings(500, 200, 2), 2, true, { status: 'CAPPED', referrerPoints: 0, refereePoints: 0 }],
    ['pending, past the cap (lowered since)', 'PENDING', settings(500, 200, 1), 3, true, { status: 'CAPPED', referrerPoints: 0, refereePoints: 0 }],
    ['a cap of 0 caps every referral', 'PENDING', settings(500, 200, 0), 0, true, { status: 'CAPPED', referrerPoints: 0, refereePoints: 0 }],
    ['defaults: rewarded with nothing', 'PENDING', settings(0, 0, null), 0, true, { status: 'REWARDED', referrerPoints: 0, refereePoints: 0 }],
    ['a referrer who may not earn: only the referee', 'PENDING', settings(500, 200, null), 0, false, { status: 'REWARDED', referrerPoints: 0, refereePoints: 200 }],
    ['already rewarded: nothing again', 'REWARDED', settings(500, 200, null), 1, true, null],
    ['already capped: nothing', 'CAPPED', settings(500, 200, null), 0, true, null],
    ['reversed: nothing', 'REVERSED', settings(500, 200, null), 1, true, null],
  ])('%s', (_name, status, s, placed, referrerActive, expected) => {
    expect(onFirstPurchase({ status, settings: s, placed, referrerActive, referrerRoom: ROOM, refereeRoom: ROOM })).toEqual(expected);
  });

  test('a bonus fills only the room a member\'s lifetime total has left, and never fails the purchase', () => {
    expect(onFirstPurchase({ status: 'PENDING', settings: settings(500, 200, null), placed: 0, referrerActive: true, referrerRoom: 120, refereeRoom: 0 }))
      .toEqual({ status: 'REWARDED', referrerPoints: 120, refereePoints: 0 });
  });
});

describe('onRefund: what a refund does to a referral', () => {
  test.each<[string, ReferralStatus, boolean, boolean, 'REVERSED' | null]>([
    ['full refund of the rewarding purchase', 'REWARDED', true, true, 'REVERSED'],
    ['partial refund of it', 'REWARDED', true, false, null],
    ['full refund of another order', 'REWARDED', false, true, null],
    ['a capped referral has nothing to take back', 'CAPPED', true, true, null],
    ['a pending referral', 'PENDING', true, true, null],
    ['reversed already', 'REVERSED', true, true, null],
  ])('%s', (_name, status, decidingOrder, fullyRefunded, expected) => {
    expect(onRefund({ status, decidingOrder, fullyRefunded })).toBe(expected);
  });
});

describe('selfReferral', () => {
  test.each<[string, string | null, string | null, boolean]>([
    ['same address', 'ada@example.com', 'ada@example.com', true],
    ['same address in another case, with spaces', 'Ada@Example.com', ' ada@EXAMPLE.COM', true],
    ['different addresses', 'ada@example.com', 'bob@example.com', false],
    ['the new member gives none', 'ada@example.com', null, false],
    ['the referrer has none', null, 'ada@example.com', false],
  ])('%s', (_name, referrerEmail, email, refused) => {
    expect(selfReferral(referrerEmail, email) !== null).toBe(refused);
  });
});
