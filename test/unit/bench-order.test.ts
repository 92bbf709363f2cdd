import { turnOrder } from '../../scripts/lib/bench-ops';

describe('servers taking turns in a bench run', () => {
  test('go in the given order in odd rounds and the other way round in even ones', () => {
    const servers = ['this build', 'the compare build'];
    expect([1, 2, 3, 4].map((round) => turnOrder(servers, round)[0])).toEqual(['this build', 'the compare build', 'this build', 'the compare build']);
    expect(turnOrder(servers, 2)).toEqual(['the compare build', 'this build']);
    // The list itself is left as it was.
    expect(servers).toEqual(['this build', 'the compare build']);
  });

  test('a single server always runs alone', () => {
    expect(turnOrder(['main'], 2)).toEqual(['main']);
  });
});
