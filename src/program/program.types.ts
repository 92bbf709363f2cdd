import type { Selectable } from 'kysely';
import type { ProgramTable, TierTable } from '../db/schema';

export type ProgramRow = Selectable<ProgramTable>;
export type TierView = Selectable<TierTable>;

/** Programme settings with the tier ladder, lowest rank first. */
export interface ProgramView extends ProgramRow {
  tiers: TierView[];
}

export interface TierStatusView {
  current: TierView;
  since: Date;
  validUntil: Date | null;
  qualifyingPoints: number;
  nextTier: TierView | null;
  pointsToNextTier: number | null;
  lifetime: boolean;
}
