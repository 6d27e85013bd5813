using System.Text.Json.Serialization;

namespace LiveUpdateFs.Fuse.Status;

/// <summary>status.json's serializer, generated at build time (NativeAOT has
/// no reflection-based JSON). Every constructor parameter without a default
/// is required, and null is refused where the type says so: a document
/// missing a key is not a daemon's.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true,
    RespectRequiredConstructorParameters = true, RespectNullableAnnotations = true)]
[JsonSerializable(typeof(StatusDocument))]
internal sealed partial class StatusJsonContext : JsonSerializerContext;
