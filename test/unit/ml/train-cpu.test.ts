import { reproducibilitySuite } from './reproducibility';

reproducibilitySuite('cpu');
