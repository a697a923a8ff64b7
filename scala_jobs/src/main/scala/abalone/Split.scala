package abalone

import org.apache.spark.sql.{DataFrame, Observation, SparkSession}
import org.apache.spark.sql.functions._

import Contract._

/** Split: routes the features table's rows by `split` into train / validation / test, in one pass (a write
  * partitioned by the split, whose folders then move to the three outputs). Parquet keeps every
  * column; `--format csv` is headerless, label first, without `split`/`row_hash` (SageMaker's built-in
  * algorithms' layout). The same job as processing_scripts/pyspark/split.py.
  */
object Split {
  val Defaults: Map[String, String] = Map(
    "input" -> "/opt/ml/processing/input/features",
    "output" -> "/opt/ml/processing/output", // base of <split>/
    "train-output" -> "",                     // default: <--output>/train
    "validation-output" -> "",
    "test-output" -> "",
    "format" -> "parquet",
    "message-file" -> "/opt/ml/output/message"
  )

  def main(argv: Array[String]): Unit = Io.exit(exec(argv))

  /** The job; its exit code (0, or 1 on bad input with the message file written). */
  def exec(argv: Array[String]): Int = {
    val args = new Args(argv, Defaults)
    val format = args("format")
    require(Set("parquet", "csv").contains(format), s"--format: expected parquet or csv, got $format")
    val outputs = Splits.map(s => s -> Option(args(s"$s-output")).filter(_.nonEmpty).getOrElse(args("output").stripSuffix("/") + "/" + s))
    Io.runJob("abalone-split", args("message-file")) { spark =>
      outputs.foreach { case (_, p) => Io.checkDestination(p) }
      val counts = route(readFeatures(spark, args("input")), outputs, format)
      outputs.foreach { case (split, path) => Io.log(s"$split: ${counts(split)} rows -> $path ($format)") }
    }
  }

  val Part = "_split_folder" // the partition column: a copy of split, so the files keep split itself

  /** Each split's rows to its output in one pass; the counts and the known-split check are observed during that
    * write, and a row with another split value fails the job before any output appears.
    */
  def route(df: DataFrame, outputs: Seq[(String, String)], format: String): Map[String, Long] = {
    val known = col("split").isin(Splits: _*)
    val observation = Observation("split")
    val metrics = Splits.map(s => count(when(col("split") === s, 1)).as(s)) ++
      Seq(count(when(!known || col("split").isNull, 1)).as("other"), first(when(!known, col("split")), ignoreNulls = true).as("other_value"))
    val observed = df.observe(observation, metrics.head, metrics.tail: _*)
    val columns = if (format == "csv") ("rings" +: Features).map(c => col(c).cast("double")) else Columns.map(col)
    val routed = observed.select((columns :+ col("split").as(Part)): _*)
    // Without these, Spark plans a sort of the whole table by the partition column before writing;
    // three open writers per task need none.
    df.sparkSession.conf.set("spark.sql.optimizer.plannedWrite.enabled", "false")
    df.sparkSession.conf.set("spark.sql.maxConcurrentOutputFileWriters", Splits.size.toString)
    Io.writeByValue(routed, Part, outputs, format) { () =>
      val got = observation.get
      if (got("other").asInstanceOf[Long] > 0)
        throw new InputDataException(s"--input: ${got("other")} row(s) with split '${got("other_value")}'; expected one of ${Splits.mkString(", ")}")
    }
    Splits.map(s => s -> observation.get(s).asInstanceOf[Long]).toMap
  }

  def readFeatures(spark: SparkSession, path: String): DataFrame = {
    if (!new java.io.File(Io.localPath(path)).exists)
      throw new InputDataException(s"--input: $path does not exist (expected the feature engineering Parquet output)")
    val df = spark.read.parquet(path)
    val missing = Columns.filterNot(df.columns.contains)
    if (missing.nonEmpty)
      throw new InputDataException(s"--input $path: missing column(s) ${missing.mkString("[", ", ", "]")}; expected ${Columns.mkString("[", ", ", "]")}")
    df.select(Columns.map(col): _*)
  }
}
