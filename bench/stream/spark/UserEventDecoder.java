package sluice.bench;

import com.google.protobuf.DescriptorProtos.FileDescriptorSet;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.DynamicMessage;
import java.io.InputStream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;

/**
 * Decodes seed 000's protobuf.UserEvent (userId, action, value) into a struct, the way
 * spark-protobuf's from_protobuf(col, "protobuf.UserEvent", descFilePath) does: the message
 * descriptor from the descriptor set (user_event.desc, a resource of this jar), then
 * DynamicMessage.parseFrom per record and the fields read by descriptor. Stands in for
 * spark-protobuf where that jar cannot be fetched. A record that does not parse gives NULL
 * (from_protobuf's PERMISSIVE mode).
 */
public class UserEventDecoder implements UDF1<byte[], Row> {
    private static final Descriptor DESCRIPTOR = load();
    private static final FieldDescriptor USER_ID = DESCRIPTOR.findFieldByName("userId");
    private static final FieldDescriptor ACTION = DESCRIPTOR.findFieldByName("action");
    private static final FieldDescriptor VALUE = DESCRIPTOR.findFieldByName("value");

    private static Descriptor load() {
        try (InputStream in = UserEventDecoder.class.getResourceAsStream("/user_event.desc")) {
            FileDescriptorSet set = FileDescriptorSet.parseFrom(in);
            FileDescriptor file = FileDescriptor.buildFrom(set.getFile(0), new FileDescriptor[0]);
            return file.findMessageTypeByName("UserEvent");
        } catch (Exception e) {
            throw new IllegalStateException("cannot load user_event.desc", e);
        }
    }

    @Override
    public Row call(byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        try {
            DynamicMessage m = DynamicMessage.parseFrom(DESCRIPTOR, bytes);
            return RowFactory.create(m.getField(USER_ID), m.getField(ACTION), m.getField(VALUE));
        } catch (com.google.protobuf.InvalidProtocolBufferException e) {
            return null;
        }
    }
}
