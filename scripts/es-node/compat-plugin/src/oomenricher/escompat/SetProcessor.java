package oomenricher.escompat;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.elasticsearch.ingest.AbstractProcessor;
import org.elasticsearch.ingest.ConfigurationUtils;
import org.elasticsearch.ingest.IngestDocument;
import org.elasticsearch.ingest.Processor;

/**
 * The subset of ingest-common's `set` processor that oom-enricher's pipeline uses: `field`,
 * `value` (a literal, or exactly one `{{{_ingest.KEY}}}` reference to ingest metadata such as
 * `timestamp` or `on_failure_message`), `copy_from`, `override` and `ignore_empty_value`.
 */
final class SetProcessor extends AbstractProcessor {
    static final String TYPE = "set";
    private static final Pattern INGEST_REF = Pattern.compile("^\\{\\{\\{?\\s*_ingest\\.([A-Za-z_]+)\\s*}}}?$");

    private final String field;
    private final Object value;
    private final String ingestKey;
    private final String copyFrom;
    private final boolean override;
    private final boolean ignoreEmptyValue;

    SetProcessor(String tag, String description, String field, Object value, String ingestKey,
                 String copyFrom, boolean override, boolean ignoreEmptyValue) {
        super(tag, description);
        this.field = field;
        this.value = value;
        this.ingestKey = ingestKey;
        this.copyFrom = copyFrom;
        this.override = override;
        this.ignoreEmptyValue = ignoreEmptyValue;
    }

    @Override
    public IngestDocument execute(IngestDocument document) {
        if (override == false && document.hasField(field) && document.getFieldValue(field, Object.class) != null) {
            return document;
        }
        Object newValue;
        if (copyFrom != null) {
            newValue = document.getFieldValue(copyFrom, Object.class, ignoreEmptyValue);
        } else if (ingestKey != null) {
            Object meta = document.getIngestMetadata().get(ingestKey);
            newValue = meta == null ? null : meta.toString();
        } else {
            newValue = value;
        }
        if (ignoreEmptyValue && (newValue == null || "".equals(newValue))) {
            return document;
        }
        document.setFieldValue(field, newValue);
        return document;
    }

    @Override
    public String getType() {
        return TYPE;
    }

    static final class Factory implements Processor.Factory {
        @Override
        public Processor create(Map<String, Processor.Factory> registry, String tag, String description,
                                Map<String, Object> config) {
            String field = ConfigurationUtils.readStringProperty(TYPE, tag, config, "field");
            String copyFrom = ConfigurationUtils.readOptionalStringProperty(TYPE, tag, config, "copy_from");
            Object value = copyFrom == null ? ConfigurationUtils.readObject(TYPE, tag, config, "value") : null;
            String ingestKey = null;
            if (value instanceof String s && s.contains("{{")) {
                Matcher m = INGEST_REF.matcher(s.trim());
                if (m.matches() == false) {
                    throw ConfigurationUtils.newConfigurationException(TYPE, tag, "value",
                        "this test node supports only {{{_ingest.KEY}}} templates");
                }
                ingestKey = m.group(1);
            }
            boolean override = ConfigurationUtils.readBooleanProperty(TYPE, tag, config, "override", true);
            boolean ignoreEmpty = ConfigurationUtils.readBooleanProperty(TYPE, tag, config, "ignore_empty_value", false);
            return new SetProcessor(tag, description, field, value, ingestKey, copyFrom, override, ignoreEmpty);
        }
    }
}
