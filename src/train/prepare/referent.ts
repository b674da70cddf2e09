import type { DataSpec } from '../../data/spec.js';
import { DataError } from '../../errors.js';
import type { PreparedData, PrepareOptions, Reporter } from '../prepare-data.js';

/** The referent classification task: which container does the adjective refer to? */
export function prepareReferent(_spec: Extract<DataSpec, { kind: 'referent' }>, _options: PrepareOptions, _reporter: Reporter): PreparedData {
  throw new DataError('the referent task is not available yet');
}
