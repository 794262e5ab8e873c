import { resumeStoreConformance } from '../test-support/store-conformance.js';
import { MemoryResumeStore } from './memory-store.js';

resumeStoreConformance('memory', {
  async make(options) {
    const store = new MemoryResumeStore(options);
    await store.open();
    return store;
  },
});
