package oomenricher.escompat;

import java.util.Map;

import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.index.mapper.Mapper;
import org.elasticsearch.index.mapper.TextFieldMapper;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.ingest.Processor;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.IngestPlugin;
import org.elasticsearch.plugins.MapperPlugin;
import org.elasticsearch.plugins.Plugin;

/**
 * Supplies, for the test node only, the two pieces of stock modules that Maven Central does not
 * serve and that oom-enricher's templates use: the `set` ingest processor (ingest-common) and the
 * `match_only_text` field type (mapper-extras, mapped here as plain `text`); and the analysis
 * pieces the security index needs (see SecurityIndexAnalysis).
 */
public class CompatPlugin extends Plugin implements IngestPlugin, MapperPlugin, AnalysisPlugin {
    @Override
    public Map<String, Processor.Factory> getProcessors(Processor.Parameters parameters) {
        return Map.of(SetProcessor.TYPE, new SetProcessor.Factory());
    }

    @Override
    public Map<String, Mapper.TypeParser> getMappers() {
        return Map.of("match_only_text", TextFieldMapper.PARSER);
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return SecurityIndexAnalysis.tokenizers();
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return SecurityIndexAnalysis.tokenFilters();
    }
}
