import { reproducibilitySuite } from './reproducibility';

reproducibilitySuite('wasm');
