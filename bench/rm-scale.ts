export interface RmScaleOptions { n: number }
export const RM_SCALE_FULL: RmScaleOptions = { n: 1 };
export const RM_SCALE_QUICK: RmScaleOptions = { n: 1 };
export async function runRmScale(_o: RmScaleOptions, _log: (l: string) => void): Promise<unknown> { return {}; }
export function printRmScale(_r: unknown): void {}
