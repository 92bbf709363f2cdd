import { join } from 'node:path';
import { resultFiles } from '../../scripts/lib/bench-ops';

describe('bench result files', () => {
  const dir = join('/repo', 'bench-results');

  test('a plain run writes latest.json and the chart the documents show', () => {
    expect(resultFiles(dir, undefined, undefined)).toEqual({ json: join(dir, 'latest.json'), chart: join(dir, 'chart.svg') });
  });

  test('a --compare run writes its own files, so latest.json is left as it was', () => {
    expect(resultFiles(dir, undefined, 'bffed72')).toEqual({ json: join(dir, 'compare-bffed72.json'), chart: join(dir, 'compare-bffed72.svg') });
    // A ref such as main~2 or origin/main becomes a plain file name.
    expect(resultFiles(dir, undefined, 'origin/main~2').json).toBe(join(dir, 'compare-origin_main_2.json'));
  });

  test('--out names the file, and the chart goes beside it', () => {
    expect(resultFiles(dir, '/tmp/run.json', 'HEAD')).toEqual({ json: '/tmp/run.json', chart: '/tmp/run.svg' });
    expect(resultFiles(dir, '/tmp/latest.json', undefined)).toEqual({ json: '/tmp/latest.json', chart: '/tmp/chart.svg' });
    expect(resultFiles(dir, '/tmp/run', undefined).chart).toBe('/tmp/run.svg');
  });
});
