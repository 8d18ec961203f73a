package oomenricher.escompat;

import java.io.IOException;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import org.apache.lucene.analysis.TokenFilter;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.apache.lucene.analysis.pattern.PatternCaptureGroupTokenFilter;
import org.apache.lucene.analysis.tokenattributes.CharTermAttribute;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;

/**
 * The analysis pieces the security index's `email` analyzer names (analysis-common in a full
 * distribution): the `uax_url_email` tokenizer and the `pattern_capture` and `unique` token
 * filters, built on Lucene's own classes. With them the node can create its security index,
 * so API keys and bearer tokens work.
 */
final class SecurityIndexAnalysis {
    private SecurityIndexAnalysis() {}

    static Map<String, AnalysisProvider<TokenizerFactory>> tokenizers() {
        return Map.of(
            "uax_url_email",
            (indexSettings, env, name, settings) -> TokenizerFactory.newFactory(name, UAX29URLEmailTokenizer::new)
        );
    }

    static Map<String, AnalysisProvider<TokenFilterFactory>> tokenFilters() {
        AnalysisProvider<TokenFilterFactory> patternCapture = new AnalysisProvider<>() {
            @Override
            public TokenFilterFactory get(
                org.elasticsearch.index.IndexSettings indexSettings,
                org.elasticsearch.env.Environment env,
                String name,
                org.elasticsearch.common.settings.Settings settings
            ) {
                List<String> regexes = settings.getAsList("patterns", List.of());
                Pattern[] patterns = regexes.stream().map(Pattern::compile).toArray(Pattern[]::new);
                boolean preserve = settings.getAsBoolean("preserve_original", true);
                return factory(name, in -> new PatternCaptureGroupTokenFilter(in, preserve, patterns));
            }

            @Override
            public boolean requiresAnalysisSettings() {
                return true;
            }
        };
        AnalysisProvider<TokenFilterFactory> unique = (indexSettings, env, name, settings) -> factory(name, UniqueFilter::new);
        return Map.of("pattern_capture", patternCapture, "unique", unique);
    }

    private static TokenFilterFactory factory(String name, java.util.function.Function<TokenStream, TokenStream> make) {
        return new TokenFilterFactory() {
            @Override
            public String name() {
                return name;
            }

            @Override
            public TokenStream create(TokenStream tokenStream) {
                return make.apply(tokenStream);
            }
        };
    }

    /** Drops a token whose text was already seen in this stream. */
    static final class UniqueFilter extends TokenFilter {
        private final CharTermAttribute term = addAttribute(CharTermAttribute.class);
        private final Set<String> seen = new HashSet<>();

        UniqueFilter(TokenStream in) {
            super(in);
        }

        @Override
        public boolean incrementToken() throws IOException {
            while (input.incrementToken()) {
                if (seen.add(term.toString())) {
                    return true;
                }
            }
            return false;
        }

        @Override
        public void reset() throws IOException {
            super.reset();
            seen.clear();
        }
    }
}
